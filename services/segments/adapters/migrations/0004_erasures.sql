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
