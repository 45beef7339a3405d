-- Webhook mode: every update Telegram posts is written here before the bot answers 200,
-- handled in arrival order, then marked handled (its body cleared: it may hold a code).
-- A crash between the answer and the handling loses nothing: the next start handles the
-- rows not marked. The update_ids of handled rows are kept a while, so that an update
-- posted again (Telegram retrying, or a replay) is dropped, not handled twice.
CREATE TABLE telegram_inbox (
    seq                 INTEGER PRIMARY KEY,
    update_id           INTEGER NOT NULL UNIQUE,
    payload             TEXT,
    received_at         INTEGER NOT NULL,
    -- starts that found it unhandled: an update that crashed the bot is not tried forever
    attempts            INTEGER NOT NULL DEFAULT 0,
    handled_at          INTEGER
);
CREATE INDEX telegram_inbox_unhandled ON telegram_inbox (handled_at, seq);
CREATE INDEX telegram_inbox_by_age ON telegram_inbox (received_at);
