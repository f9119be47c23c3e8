CREATE TABLE shipments (
    merchant_id      text        NOT NULL,
    shipment_id      text        NOT NULL,
    order_id         text        NOT NULL,
    customer_id      text,
    carrier          text        NOT NULL,
    tracking_number  text,
    promised_date    date,
    status           text,
    status_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, shipment_id)
);
CREATE INDEX shipments_order ON shipments (merchant_id, order_id);

-- Every scan is kept: the shipment's timeline, including scans that did not change its state.
CREATE TABLE scans (
    merchant_id     text        NOT NULL,
    shipment_id     text        NOT NULL,
    event_id        uuid        PRIMARY KEY,
    status          text        NOT NULL,
    raw_status_code text,
    location        jsonb,
    scanned_at      timestamptz NOT NULL
);
CREATE INDEX scans_shipment ON scans (merchant_id, shipment_id, scanned_at);
