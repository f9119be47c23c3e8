-- Where a segment's retargeting audience is pushed, and what was pushed last (the hashed rows), because the ad
-- platforms can only remove a member by the very hashes they were sent, even after the customer was erased.
CREATE TABLE audience_destinations (
    merchant_id    text        NOT NULL,
    segment_id     text        NOT NULL,
    format         text        NOT NULL CHECK (format IN ('meta', 'google')),
    url            text        NOT NULL,
    secret         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_synced_at timestamptz,
    last_added     integer     NOT NULL DEFAULT 0,
    last_removed   integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, segment_id)
);
CREATE TABLE audience_exports (
    merchant_id text  NOT NULL,
    segment_id  text  NOT NULL,
    customer_id text  NOT NULL,
    row         jsonb NOT NULL,
    PRIMARY KEY (merchant_id, segment_id, customer_id)
);

-- BG/NBD + Gamma-Gamma: the merchant's fitted model and each customer's prediction from the last refresh.
CREATE TABLE prediction_models (
    merchant_id text        PRIMARY KEY,
    status      text        NOT NULL,
    params      jsonb       NOT NULL DEFAULT '{}',
    customers   integer     NOT NULL DEFAULT 0,
    fitted_at   timestamptz NOT NULL
);
CREATE TABLE predictions (
    merchant_id            text             NOT NULL,
    customer_id            text             NOT NULL,
    probability_active     double precision NOT NULL,
    expected_orders_12m    double precision NOT NULL,
    predicted_clv_12m_minor bigint          NOT NULL,
    expected_next_order_at timestamptz,
    computed_at            timestamptz      NOT NULL,
    PRIMARY KEY (merchant_id, customer_id)
);
