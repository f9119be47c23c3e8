-- Running balance per customer, maintained in the same transaction as the ledger entries it sums.
-- The ledger stays the truth (balance = sum(points)); this projection makes a batch's balance reads
-- a single upsert instead of re-summing every customer's history.
CREATE TABLE balances (
    merchant_id text   NOT NULL,
    customer_id text   NOT NULL,
    balance     bigint NOT NULL,
    PRIMARY KEY (merchant_id, customer_id)
);
INSERT INTO balances (merchant_id, customer_id, balance)
SELECT merchant_id, customer_id, sum(points) FROM ledger_entries GROUP BY merchant_id, customer_id;
