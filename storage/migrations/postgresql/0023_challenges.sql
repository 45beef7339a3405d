-- Login approvals in the chat (core/challenges.py). A challenge is asked by an API client
-- (client: its audit actor) for an account; the row is also the outbox of its chat
-- message (sent_at NULL: not sent yet) and of the outcome shown on every recipient's
-- message (outcome_shown_at NULL once decided).
CREATE TABLE challenges (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    client              TEXT NOT NULL,
    -- the number the login screen shows; NULL: a plain approval (RADIUS, PAM)
    number              TEXT,
    -- the buttons in the order shown, comma-separated ('' for a plain approval)
    choices             TEXT NOT NULL DEFAULT '',
    context             TEXT NOT NULL DEFAULT '{}',
    -- pending, accepted, declined, expired, cancelled
    status              TEXT NOT NULL,
    -- for declined: wrong_number or reported ("This wasn't me")
    reason              TEXT,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    decided_at          BIGINT,
    decided_by          BIGINT,
    -- an accepted challenge is one login: set when the login system read the verdict
    used_at             BIGINT,
    sent_at             BIGINT,
    outcome_shown_at    BIGINT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT
);
-- At most one pending challenge per account, whatever the number of API workers.
CREATE UNIQUE INDEX challenges_one_pending ON challenges (account_id) WHERE status = 'pending';
CREATE INDEX challenges_by_account ON challenges (account_id, created_at);
CREATE INDEX challenges_to_send ON challenges (status, sent_at);
CREATE INDEX challenges_outcome_to_show ON challenges (outcome_shown_at, status);

-- Each recipient's message of a challenge, to edit them all when it is decided. Usually
-- one per recipient; two when a bot died between sending one and recording it (the
-- standby sends it again, and a press on the first records it here too).
CREATE TABLE challenge_messages (
    challenge_id        TEXT NOT NULL REFERENCES challenges (id) ON DELETE CASCADE,
    user_id             BIGINT NOT NULL,
    message_id          BIGINT NOT NULL,
    language            TEXT NOT NULL,
    PRIMARY KEY (challenge_id, user_id, message_id)
);
