-- Goodwill points loyalty granted for a late parcel (from loyalty.points_earned): the delay apology says so.
CREATE TABLE goodwill (
    merchant_id text        NOT NULL,
    shipment_id text        NOT NULL,
    points      integer     NOT NULL,
    granted_at  timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, shipment_id)
);
