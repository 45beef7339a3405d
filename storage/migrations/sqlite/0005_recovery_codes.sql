-- Single-use recovery codes, stored as keyed hashes only.
CREATE TABLE recovery_codes (
    id              INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    code_hash       BLOB NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    used_at         INTEGER,
    voided_at       INTEGER
);
CREATE INDEX recovery_codes_by_account ON recovery_codes (account_id, used_at, voided_at);
