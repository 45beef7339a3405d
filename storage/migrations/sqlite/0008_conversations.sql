-- One conversation slot per Telegram user: the one typed answer the bot waits for,
-- which flow asked for it, at which step, with what data, until when. Sealed secrets
-- stay in their own tables (pending_enrolments); the slot's data only points at them.
CREATE TABLE conversations (
    telegram_user_id    INTEGER PRIMARY KEY,
    chat_id             INTEGER NOT NULL,
    flow                TEXT NOT NULL,
    step                TEXT NOT NULL,
    data                TEXT NOT NULL DEFAULT '{}',
    -- a flow the user asked to start while this one waited: {"flow": ..., "data": {...}}
    offer               TEXT,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL
);

-- Proof, once given, that allows one change (rename a device, remove it, add one after a
-- recovery code): bound to an account and a Telegram user, short-lived, used once.
CREATE TABLE grants (
    id                  INTEGER PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    telegram_user_id    INTEGER NOT NULL,
    kind                TEXT NOT NULL,
    subject             TEXT NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    used_at             INTEGER
);
CREATE INDEX grants_by_holder ON grants (telegram_user_id, kind, subject, used_at);

-- Enrolments in progress keep going after the upgrade: each gets its slot.
INSERT INTO conversations (telegram_user_id, chat_id, flow, step, data, created_at, expires_at)
SELECT telegram_user_id, chat_id, 'enrol', stage, '{"enrolment": "' || id || '"}',
       created_at, expires_at
FROM pending_enrolments;

-- Prompts that waited for a typed answer carry over; a "recovered" prompt was a proof
-- kept in a prompt, which is no longer a thing: the user gives the recovery code again.
INSERT OR IGNORE INTO conversations
    (telegram_user_id, chat_id, flow, step, data, created_at, expires_at)
SELECT telegram_user_id, telegram_user_id,
       CASE kind WHEN 'check' THEN 'check' WHEN 'lost_reason' THEN 'lost'
                 WHEN 'lost_recovery' THEN 'recover' END,
       CASE kind WHEN 'check' THEN 'code' WHEN 'lost_reason' THEN 'reason'
                 WHEN 'lost_recovery' THEN 'code' END,
       '{}', created_at, expires_at
FROM chat_prompts WHERE kind IN ('check', 'lost_reason', 'lost_recovery');

DROP TABLE chat_prompts;
