-- The HTTP API's clients (python -m bot clients): each has its own token and scopes. Only
-- a SHA-256 hash of the token is kept (it is shown once, when the client is added). A
-- revoked client keeps its row (revoked_at), so its name in the audit log stays
-- explained; a name is unique among the clients not revoked.
CREATE TABLE api_clients (
    token_hash      BYTEA PRIMARY KEY,
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);
CREATE UNIQUE INDEX api_clients_by_active_name ON api_clients (name) WHERE revoked_at IS NULL;
