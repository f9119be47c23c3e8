-- Profiles become one document per customer (everything a condition can see) plus the columns that lists,
-- RFM refreshes and audience exports filter on; memberships live on the profile row, so the incremental path
-- reads and writes one row per touched customer and a segment's members are one GIN index lookup away.
ALTER TABLE profiles
    ADD COLUMN doc                 jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN memberships         jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN lifecycle           text        NOT NULL DEFAULT 'prospect',
    ADD COLUMN rfm_group           text,
    ADD COLUMN advertising_consent boolean     NOT NULL DEFAULT false,
    ADD COLUMN erased              boolean     NOT NULL DEFAULT false,
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now(),
    -- Bumped by every save: the scheduled walk reads without locks and writes only rows nobody changed since.
    ADD COLUMN revision            bigint      NOT NULL DEFAULT 0;
CREATE INDEX profiles_memberships ON profiles USING gin (memberships);

-- The customer's orders, so cancellations and refunds weeks later recompute the figures exactly (and KPIs).
CREATE TABLE orders (
    merchant_id    text        NOT NULL,
    order_id       text        NOT NULL,
    customer_id    text        NOT NULL,
    placed_at      timestamptz NOT NULL,
    total_minor    bigint      NOT NULL,
    refunded_minor bigint      NOT NULL DEFAULT 0,
    currency       text        NOT NULL,
    channel        text        NOT NULL,
    cancelled      boolean     NOT NULL DEFAULT false,
    products       text[]      NOT NULL DEFAULT '{}',
    categories     text[]      NOT NULL DEFAULT '{}',
    discount_codes text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (merchant_id, order_id)
);
CREATE INDEX orders_by_customer ON orders (merchant_id, customer_id);

-- Segment definitions: the current version here, every saved version in segment_versions.
CREATE TABLE segments (
    merchant_id  text        NOT NULL,
    segment_id   text        NOT NULL,
    version      integer     NOT NULL,
    name         text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    definition   jsonb       NOT NULL,
    actions      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (merchant_id, segment_id)
);
CREATE TABLE segment_versions (
    merchant_id  text        NOT NULL,
    segment_id   text        NOT NULL,
    version      integer     NOT NULL,
    name         text        NOT NULL,
    definition   jsonb       NOT NULL,
    actions      jsonb       NOT NULL DEFAULT '{}',
    saved_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, segment_id, version)
);

-- The merchant's RFM quintile boundaries from the last refresh (incremental scoring reads them).
CREATE TABLE rfm_cuts (
    merchant_id text        PRIMARY KEY,
    cuts        jsonb       NOT NULL,
    computed_at timestamptz NOT NULL
);
