-- Login with 2FA: lockouts, enrolment links, chat prompts, alert events.

-- Per-account verification state. No row means: no failures, no lock.
CREATE TABLE account_security (
    account_id              TEXT PRIMARY KEY REFERENCES accounts (id),
    -- consecutive failed checks; a success resets it. Every 5th locks the account.
    consecutive_failures    INTEGER NOT NULL DEFAULT 0,
    locked_until            INTEGER,
    -- set at 100 consecutive failures: checks fail until support clears it
    hard_locked_at          INTEGER,
    -- a temporary deactivation approved by support: 2FA is off until then
    deactivated_until       INTEGER,
    updated_at              INTEGER NOT NULL
);

-- One-time enrolment links minted by the login system. Only a hash of the token is kept.
CREATE TABLE enrollment_links (
    id                  TEXT PRIMARY KEY,
    token_hash          BLOB NOT NULL UNIQUE,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    -- the Telegram user who opened it and still has to confirm an account switch
    opened_by_user_id   INTEGER,
    used_at             INTEGER,
    used_by_user_id     INTEGER
);

-- What the bot waits for from a user outside an enrolment (e.g. a code for /check).
CREATE TABLE chat_prompts (
    telegram_user_id    INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL
);

-- Events for the ops chat, written in the transaction of the change that raised them;
-- a sender delivers them (and marks them delivered).
CREATE TABLE alert_events (
    id                  INTEGER PRIMARY KEY,
    at                  INTEGER NOT NULL,
    kind                TEXT NOT NULL,
    severity            TEXT NOT NULL,
    account_id          TEXT,
    telegram_user_id    INTEGER,
    detail              TEXT NOT NULL DEFAULT '{}',
    delivered_at        INTEGER
);
CREATE INDEX alert_events_undelivered ON alert_events (delivered_at, id);
