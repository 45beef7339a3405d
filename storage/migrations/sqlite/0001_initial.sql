-- 2FA Desk: initial schema.
-- Times are Unix seconds (UTC) in INTEGER columns; ids are opaque TEXT.
-- Kept to portable SQL (types, constraints, indexes) except the audit
-- triggers, which each backend expresses in its own dialect.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

-- Which account a Telegram user manages from the chat.
CREATE TABLE telegram_users (
    user_id         INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    username        TEXT,
    display_name    TEXT NOT NULL DEFAULT '',
    first_seen_at   INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE devices (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    name                TEXT NOT NULL,
    secret_sealed       BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    created_by_user_id  INTEGER,
    last_used_at        INTEGER,
    -- highest accepted TOTP time step: that step and earlier ones are refused
    last_used_step      INTEGER,
    revoked_at          INTEGER
);
CREATE INDEX devices_by_account ON devices (account_id, revoked_at);

-- An enrolment in progress; its id becomes the device id on activation.
CREATE TABLE pending_enrolments (
    id                  TEXT PRIMARY KEY,
    telegram_user_id    INTEGER NOT NULL UNIQUE,
    chat_id             INTEGER NOT NULL,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    secret_sealed       BLOB NOT NULL,
    stage               TEXT NOT NULL
        CHECK (stage IN ('awaiting_code', 'awaiting_name', 'awaiting_confirmation')),
    attempts_left       INTEGER NOT NULL,
    accepted_step       INTEGER,
    device_name         TEXT,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    qr_message_id       INTEGER,
    key_message_id      INTEGER,
    code_message_id     INTEGER
);
CREATE INDEX pending_enrolments_by_expiry ON pending_enrolments (expires_at);

-- Chat messages that must disappear (a QR code, a key, a code the user typed).
-- Written in the same transaction as the change that makes them obsolete, so
-- a crash between the commit and the deletion only delays it.
CREATE TABLE chat_cleanup (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (chat_id, message_id)
);
CREATE INDEX chat_cleanup_by_due ON chat_cleanup (due_at);

-- Append-only record of every state change: who, what, when.
CREATE TABLE audit_log (
    id                  INTEGER PRIMARY KEY,
    at                  INTEGER NOT NULL,
    actor               TEXT NOT NULL,
    telegram_user_id    INTEGER,
    account_id          TEXT,
    action              TEXT NOT NULL,
    detail              TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_account ON audit_log (account_id, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
