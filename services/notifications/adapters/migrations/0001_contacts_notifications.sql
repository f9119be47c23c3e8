-- The service's own view of each customer it may write to (filled from shop.customers).
CREATE TABLE contacts (
    merchant_id  text        NOT NULL,
    customer_id  text        NOT NULL,
    email        text,
    first_name   text,
    last_name    text,
    salutation   text,
    locale       text        NOT NULL DEFAULT 'de',
    time_zone    text,
    updated_at   timestamptz NOT NULL,  -- event time of the newest customer event applied
    PRIMARY KEY (merchant_id, customer_id)
);

-- One row per notification; the id is derived from the trigger so a redelivered trigger is a no-op.
-- status: pending -> sending -> sent | failed | suppressed. `sending` is written and committed
-- before the SMTP call, so a crash during the call never leads to a second send.
CREATE TABLE notifications (
    notification_id uuid        PRIMARY KEY,
    merchant_id     text        NOT NULL,
    customer_id     text        NOT NULL,
    template        text        NOT NULL,
    context         jsonb       NOT NULL,
    trigger_event   uuid        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    status_reason   text,
    not_before      timestamptz NOT NULL,
    give_up_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    claimed_at      timestamptz,
    message_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notifications_due ON notifications (not_before) WHERE status = 'pending';
CREATE INDEX notifications_customer ON notifications (merchant_id, customer_id, created_at);
