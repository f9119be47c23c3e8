-- Erasures (GDPR Art. 17) this service applied, each written in the transaction that erased the customer: the
-- gateway's status resource calls a request complete once every service has its row. Ids and a time only.
CREATE TABLE erasures (
    merchant_id text        NOT NULL,
    request_id  text        NOT NULL,
    customer_id text        NOT NULL,
    erased_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, request_id, customer_id)
);
CREATE INDEX erasures_customer ON erasures (merchant_id, customer_id);
-- Tracking learns of an erasure on its own (shop.customers) and finds the customer's parcels and orders by these.
CREATE INDEX shipments_customer ON shipments (merchant_id, customer_id);
CREATE INDEX orders_customer ON orders (merchant_id, (state->>'customer_id'));
