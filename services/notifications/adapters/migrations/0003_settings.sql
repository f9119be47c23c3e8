-- Per-merchant notification settings (sender, form of address, legal footer); absent = defaults.
CREATE TABLE settings (
    merchant_id text        PRIMARY KEY,
    config      jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
