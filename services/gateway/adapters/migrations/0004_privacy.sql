-- Erasure requests made through the gateway (GDPR Art. 17). The status resource finds them by the key's merchant, so
-- an unknown or another merchant's request id is a 404; once every service confirmed, the confirmations are kept
-- here and the status is answered without asking the services again. Ids and times only, no personal data.
CREATE TABLE erasure_requests (
    merchant_id   text        NOT NULL REFERENCES merchants,
    request_id    uuid        NOT NULL,
    customer_id   text        NOT NULL,
    requested_by  text        NOT NULL,
    event_id      uuid        NOT NULL,
    requested_at  timestamptz NOT NULL,
    completed_at  timestamptz,
    confirmations jsonb,
    PRIMARY KEY (merchant_id, request_id)
);
