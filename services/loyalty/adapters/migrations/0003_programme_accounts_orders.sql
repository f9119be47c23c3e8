-- Issue 3: pending/available buckets, compensating entries that point at what they reverse, per-merchant
-- programmes (versioned), accounts (balances folded from entries), orders (lines for line-level reversals),
-- rewards and the discount codes of redemptions and vouchers.
ALTER TABLE ledger_entries
    ADD COLUMN bucket            text    NOT NULL DEFAULT 'available' CHECK (bucket IN ('available', 'pending')),
    ADD COLUMN reverses_entry_id uuid,
    ADD COLUMN shortfall         integer NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    ADD COLUMN shipment_id       text,
    ADD COLUMN note              text;
-- A reversal that found no balance still records its shortfall (zero points, shortfall > 0).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_points_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_points_or_shortfall CHECK (points <> 0 OR shortfall > 0);

CREATE TABLE accounts (
    merchant_id     text   NOT NULL,
    customer_id     text   NOT NULL,
    available       bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    pending         bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    lifetime_earned bigint NOT NULL DEFAULT 0,
    redeemed        bigint NOT NULL DEFAULT 0,
    expired         bigint NOT NULL DEFAULT 0,
    reversed        bigint NOT NULL DEFAULT 0,
    debt            bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
    tier            text,
    -- Dates, membership, referral and the activity window; personal fields are cleared on erasure.
    state           jsonb  NOT NULL DEFAULT '{}'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, customer_id)
);
INSERT INTO accounts (merchant_id, customer_id, available, lifetime_earned)
SELECT merchant_id, customer_id, balance, balance FROM balances;
DROP TABLE balances;

CREATE TABLE orders (
    merchant_id text  NOT NULL,
    order_id    text  NOT NULL,
    customer_id text  NOT NULL,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, order_id)
);

CREATE TABLE programmes (
    merchant_id text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    config      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, version)
);

CREATE TABLE rewards (
    merchant_id text        NOT NULL,
    reward_id   text        NOT NULL,
    config      jsonb       NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, reward_id)
);

-- Single-use discount codes from redemptions, points payments and tenure vouchers.
CREATE TABLE codes (
    code          text        PRIMARY KEY,
    merchant_id   text        NOT NULL,
    customer_id   text        NOT NULL,
    kind          text        NOT NULL,
    redemption_id uuid        NOT NULL UNIQUE,
    client_key    text,
    request_hash  text,
    response      jsonb,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, client_key)
);
CREATE INDEX codes_customer ON codes (merchant_id, customer_id, created_at DESC);
CREATE INDEX ledger_entries_reverses ON ledger_entries (merchant_id, reverses_entry_id) WHERE reverses_entry_id IS NOT NULL;
