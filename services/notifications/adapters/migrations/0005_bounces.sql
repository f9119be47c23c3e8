-- A hard bounce (the receiving server refused the address for good) suppresses every later mail to that
-- address; a new address from the shop clears it.
ALTER TABLE contacts ADD COLUMN bounced_at timestamptz, ADD COLUMN bounce_reason text;
