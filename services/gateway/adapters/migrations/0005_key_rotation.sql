-- A rotated key points at nothing; its replacement points back at it. One replacement per key, so a retried
-- rotation cannot leave a second, unseen key behind.
ALTER TABLE api_keys ADD COLUMN rotated_from uuid REFERENCES api_keys;
CREATE UNIQUE INDEX api_keys_rotated_from ON api_keys (rotated_from) WHERE rotated_from IS NOT NULL;
CREATE INDEX api_keys_merchant ON api_keys (merchant_id, created_at);
