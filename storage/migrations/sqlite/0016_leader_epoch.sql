-- The leader's fencing token (core/leadership.py): one row, its epoch raised by one each
-- time a bot becomes the active one. Only PostgreSQL, with an active and a standby bot,
-- writes it; on SQLite (one bot process) the table stays empty, kept so that both
-- schemas are the same (and copy-database copies it like any other).
CREATE TABLE leader_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    taken_at INTEGER NOT NULL
);
