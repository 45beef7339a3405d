-- Notices for the people who manage an account (every Telegram user linked to it):
-- a device added or removed, a recovery code used. Written in the transaction of the
-- change; a sender delivers them.
CREATE TABLE user_notices (
    id                  INTEGER PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    kind                TEXT NOT NULL,
    detail              TEXT NOT NULL DEFAULT '{}',
    -- the user who caused it already saw the answer in their chat
    skip_user_id        INTEGER,
    created_at          INTEGER NOT NULL,
    delivered_at        INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER
);
CREATE INDEX user_notices_undelivered ON user_notices (delivered_at, id);
