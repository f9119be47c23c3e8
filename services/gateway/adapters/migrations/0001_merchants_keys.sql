CREATE TABLE merchants (
    merchant_id text        PRIMARY KEY,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the hash of a key is stored; the prefix is for lookup and for recognising a key in a list.
CREATE TABLE api_keys (
    key_id       uuid        PRIMARY KEY,
    merchant_id  text        NOT NULL REFERENCES merchants,
    prefix       text        NOT NULL UNIQUE,
    key_hash     text        NOT NULL,
    scopes       text[]      NOT NULL,
    label        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Ingestion idempotency: an event id accepted once is reported as duplicate and never republished.
CREATE TABLE ingested_events (
    merchant_id text        NOT NULL,
    event_id    uuid        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, event_id)
);
