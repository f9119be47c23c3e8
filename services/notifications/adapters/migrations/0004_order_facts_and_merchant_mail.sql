-- What notifications remembers of an order for the mails after delivery (review request days and aftercare
-- per product category), and whether a customer has ordered before (the first-order thank-you).
CREATE TABLE order_facts (
    merchant_id  text        NOT NULL,
    order_id     text        NOT NULL,
    customer_id  text        NOT NULL,
    order_number text        NOT NULL,
    categories   text[]      NOT NULL,
    placed_at    timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, order_id)
);
CREATE INDEX order_facts_customer ON order_facts (merchant_id, customer_id);

-- Mail to the merchant's team (the negative-review alert): the recipient is in the context, not a contact.
ALTER TABLE notifications DROP CONSTRAINT notifications_category_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_category_check
    CHECK (category IN ('transactional', 'marketing', 'merchant'));
