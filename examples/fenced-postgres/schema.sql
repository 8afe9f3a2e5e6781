-- The ledger a lock protects. fence is the highest fencing token that has
-- written to the row: a write with a lower one is from a holder that lost
-- the lock, and changes nothing.
CREATE TABLE ledger (
    id      integer PRIMARY KEY,
    fence   bigint  NOT NULL DEFAULT 0,
    entries text[]  NOT NULL DEFAULT '{}'
);
INSERT INTO ledger (id) VALUES (1);
