-- The customer's own form of address (du/sie, from the shop; absent: the merchant's default) and the country of
-- their address (region-aware blocks in mails, e.g. customs notes for Switzerland).
ALTER TABLE contacts ADD COLUMN form_of_address text, ADD COLUMN country text;
