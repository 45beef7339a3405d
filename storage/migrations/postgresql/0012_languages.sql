-- The language each Telegram user reads: the one they picked with /language, else the
-- one Telegram last said their app uses (kept, so that a notice to them is in it too).
CREATE TABLE user_languages (
    telegram_user_id    BIGINT PRIMARY KEY,
    chosen              TEXT,
    telegram            TEXT,
    updated_at          BIGINT NOT NULL
);
