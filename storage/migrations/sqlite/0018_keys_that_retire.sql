-- A rotation retires the old key (core/recovery.py, core/keys.py, core/audit_chain.py).
--
-- Recovery codes are stored as salted scrypt hashes from now on, which need no key: the
-- salt, 16 random bytes, is one per set (key_id stays NULL). Codes stored before keep
-- their keyed hash (salt NULL, key_id naming the key, or NULL from before key ids).
ALTER TABLE recovery_codes ADD COLUMN salt BLOB;

-- What those older codes need once their SECRETS_KEY is gone: the key their HMAC was made
-- under (derived from that SECRETS_KEY for recovery codes alone: it opens no secret and
-- chains no audit row), kept by rotate-key sealed under the current SECRETS_KEY, one row
-- per key id, and dropped when no unused code needs it. ``account_id`` is '' (the sealed
-- value's associated data binds it to its key id, ``id``).
CREATE TABLE recovery_code_keys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL DEFAULT '',
    secret_sealed   BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);

-- The audit chain's anchors (rows rotate-key chains under the new key over everything
-- before them): a process whose SECRETS_KEY an anchor retired looks the last one up
-- before it chains, and stops.
CREATE INDEX audit_log_anchors ON audit_log (chain_seq) WHERE action = 'audit_chain_anchored';
