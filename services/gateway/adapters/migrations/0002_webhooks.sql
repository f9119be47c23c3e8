-- Shopify webhooks (docs/gateway-webhooks.md).

-- The secret Shopify signs a merchant's webhooks with. Stored as given, because verifying needs the secret itself
-- (a hash would not do); it is never returned by the API, only a fingerprint of it. Encryption at rest would add
-- a key-management dependency without protecting against anyone who can read both this table and the settings.
CREATE TABLE webhook_secrets (
    merchant_id    text        NOT NULL REFERENCES merchants,
    provider       text        NOT NULL CHECK (provider IN ('shopify')),
    secret         text        NOT NULL,
    -- Shopify's customer payloads carry no language; customer events get this one.
    default_locale text        NOT NULL DEFAULT 'de',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, provider)
);

-- Every verified delivery, once: a repeated X-Shopify-Webhook-Id is answered as a duplicate and nothing is
-- published again. `status`: accepted (events published), duplicate (its events were known already), ignored
-- (nothing to publish; `detail` says why), parked (waits for the order's customer; `body` kept until then),
-- failed (a parked delivery that could not be mapped when released).
CREATE TABLE processed_webhooks (
    merchant_id text        NOT NULL REFERENCES merchants,
    webhook_id  text        NOT NULL,
    topic       text        NOT NULL,
    shop_domain text,
    status      text        NOT NULL CHECK (status IN ('accepted', 'duplicate', 'ignored', 'parked', 'failed')),
    detail      text,
    event_ids   uuid[]      NOT NULL DEFAULT '{}',
    order_id    text,
    body        bytea,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, webhook_id)
);
CREATE INDEX processed_webhooks_parked ON processed_webhooks (merchant_id, order_id) WHERE status = 'parked';
CREATE INDEX processed_webhooks_received_at ON processed_webhooks (received_at);

-- An order's customer, learned from orders/* webhooks: refunds and fulfillments name only the order.
CREATE TABLE shopify_orders (
    merchant_id text        NOT NULL REFERENCES merchants,
    order_id    text        NOT NULL,
    customer_id text        NOT NULL,
    currency    text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, order_id)
);
