-- Append-only points ledger (DESIGN §4): balance = sum(points); reversals are compensating entries.
CREATE TABLE ledger_entries (
    id              bigserial   PRIMARY KEY,
    entry_id        uuid        NOT NULL UNIQUE,
    merchant_id     text        NOT NULL,
    customer_id     text        NOT NULL,
    kind            text        NOT NULL,
    points          integer     NOT NULL CHECK (points <> 0),
    reason_code     text        NOT NULL,
    source_event_id uuid        NOT NULL,
    source_type     text        NOT NULL,
    order_id        text,
    rule_version    integer     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, source_event_id, kind)
);
CREATE INDEX ledger_entries_customer ON ledger_entries (merchant_id, customer_id, id);

-- Entries are never edited or deleted: a correction is a new, compensating entry.
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END $$;
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
