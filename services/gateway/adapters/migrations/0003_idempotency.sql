-- `Idempotency-Key` on mutating merchant calls (services/gateway/api/idempotency.py). One row per merchant and key:
-- claimed (inserted) by the first request, which is the lock; its answer kept once it has one. Keys are the
-- merchant's own strings (never the API key or its hash); a row older than 24 hours counts as gone and is purged.
CREATE TABLE idempotency_keys (
    merchant_id     text        NOT NULL,
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- sha256 of method, path with query string, and (canonical JSON) body of the first request
    fingerprint     text        NOT NULL,
    -- the request running with the key; NULL once its answer is kept
    owner           uuid,
    locked_at       timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          smallint,
    headers         jsonb,
    body            bytea,
    PRIMARY KEY (merchant_id, idempotency_key),
    CHECK ((owner IS NULL) = (status IS NOT NULL))
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
