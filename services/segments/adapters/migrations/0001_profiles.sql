CREATE TABLE profiles (
    merchant_id     text        NOT NULL,
    customer_id     text        NOT NULL,
    order_count     integer     NOT NULL DEFAULT 0,
    revenue_minor   bigint      NOT NULL DEFAULT 0,
    currency        text,
    first_order_at  timestamptz,
    last_order_at   timestamptz,
    city            text,
    postcode        text,
    country         text,
    channel         text,
    PRIMARY KEY (merchant_id, customer_id)
);
