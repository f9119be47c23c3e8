-- Tracking's full parcel state (promise, estimate, problems) and what it learns from delivered parcels.
ALTER TABLE shipments
    ADD COLUMN state          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN direction      text        NOT NULL DEFAULT 'outbound',
    ADD COLUMN service_level  text,
    ADD COLUMN country        text,
    ADD COLUMN estimated_date date,
    ADD COLUMN started_at     timestamptz,
    ADD COLUMN last_scan_at   timestamptz,
    ADD COLUMN delivered_at   timestamptz,
    ADD COLUMN on_time        boolean;

-- Learned transit times: a lane's delivered outbound parcels of the last months.
CREATE INDEX shipments_lane ON shipments (merchant_id, carrier, country, delivered_at)
    WHERE direction = 'outbound' AND delivered_at IS NOT NULL;

-- The same carrier scan delivered twice (webhook retries under new event ids) is kept once.
CREATE UNIQUE INDEX scans_natural ON scans (merchant_id, shipment_id, scanned_at, status, coalesce(raw_status_code, ''));

-- Orders as tracking needs them: the lines that must arrive, and whether delivery was announced.
CREATE TABLE orders (
    merchant_id  text        NOT NULL,
    order_id     text        NOT NULL,
    state        jsonb       NOT NULL,
    delivered_at timestamptz,
    PRIMARY KEY (merchant_id, order_id)
);

-- Every problem reported or cleared: delay counts by carrier and reason, and the audit of what customers heard.
CREATE TABLE problem_log (
    id          bigserial   PRIMARY KEY,
    merchant_id text        NOT NULL,
    shipment_id text        NOT NULL,
    carrier     text        NOT NULL,
    problem     text        NOT NULL,
    reason      text        NOT NULL,
    raised      boolean     NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX problem_log_merchant ON problem_log (merchant_id, at);

-- Per-merchant delivery rules (promise, no-movement limits); absent = defaults.
CREATE TABLE delivery_rules (
    merchant_id text        PRIMARY KEY,
    config      jsonb       NOT NULL,
    version     int         NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
