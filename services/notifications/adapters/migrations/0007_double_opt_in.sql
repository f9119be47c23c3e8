-- Double opt-in: a marketing sign-up the shop has not confirmed waits for the customer's click on the link in
-- the confirmation mail; the proof (source, when asked, when confirmed) stays with the contact.
ALTER TABLE contacts
    ADD COLUMN consent_source       text,
    ADD COLUMN opt_in_requested_at  timestamptz,
    ADD COLUMN opt_in_confirmed_at  timestamptz;
