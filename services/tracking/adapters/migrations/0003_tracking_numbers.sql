-- Carrier payloads name parcels by tracking number: find the shipment from it.
CREATE INDEX shipments_tracking_number ON shipments (merchant_id, carrier, tracking_number);
