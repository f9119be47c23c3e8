-- How the customer tracking page looks per merchant (shop name, logo, colour, default language).
CREATE TABLE branding (
    merchant_id text        PRIMARY KEY,
    config      jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
