-- notification.requested: the message's category (transactional never waits, marketing needs consent) and
-- the trigger it deduplicates on.
ALTER TABLE notifications
    ADD COLUMN category   text NOT NULL DEFAULT 'transactional' CHECK (category IN ('transactional', 'marketing')),
    ADD COLUMN trigger_id text,
    -- when the cause happened: a notification whose trigger is days old (a backfill) is never sent
    ADD COLUMN trigger_at timestamptz;

-- Marketing e-mail consent per contact (from consent.changed), newest by event time.
ALTER TABLE contacts
    ADD COLUMN marketing_consent    boolean     NOT NULL DEFAULT false,
    ADD COLUMN marketing_consent_at timestamptz,
    ALTER COLUMN updated_at DROP NOT NULL;
