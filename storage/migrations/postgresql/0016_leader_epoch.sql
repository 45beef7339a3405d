-- The leader's fencing token (core/leadership.py): one row, its epoch raised by one each
-- time a bot becomes the active one, in a transaction on the leader lock's own session
-- that checks the session holds the lock. Every transaction that reads what is to be
-- sent, or marks it sent, checks the epoch is still the one its bot took: a bot that was
-- deposed (another took a newer epoch) sends nothing more. No row until the first bot
-- becomes active.
CREATE TABLE leader_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    taken_at BIGINT NOT NULL
);
