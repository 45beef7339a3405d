-- Lost authenticator: support agents, deactivation requests, prompt data.

CREATE TABLE support_agents (
    user_id     INTEGER PRIMARY KEY,
    added_by    INTEGER,
    added_at    INTEGER NOT NULL
);

CREATE TABLE deactivation_requests (
    id                      INTEGER PRIMARY KEY,
    account_id              TEXT NOT NULL REFERENCES accounts (id),
    telegram_user_id        INTEGER NOT NULL,
    chat_id                 INTEGER NOT NULL,
    username                TEXT,
    display_name            TEXT NOT NULL DEFAULT '',
    reason                  TEXT NOT NULL,
    status                  TEXT NOT NULL
        CHECK (status IN ('open', 'approved', 'denied', 'withdrawn', 'expired')),
    created_at              INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    decided_at              INTEGER,
    decided_by              INTEGER,
    decided_by_name         TEXT,
    decision_reason         TEXT,
    deactivated_until       INTEGER,
    -- where the request is shown to support (NULL: not posted yet)
    support_chat_id         INTEGER,
    support_message_id      INTEGER,
    -- what the support message and the user were last told (outboxes by status)
    support_shown_status    TEXT,
    user_told_status        TEXT,
    reminder_sent_at        INTEGER
);
-- One open request per account; decided ones stay as history.
CREATE UNIQUE INDEX deactivation_requests_one_open
    ON deactivation_requests (account_id) WHERE status = 'open';
CREATE INDEX deactivation_requests_by_status ON deactivation_requests (status, created_at);

-- A prompt can carry a little data (a reason being confirmed, a request being denied).
ALTER TABLE chat_prompts ADD COLUMN data TEXT;
