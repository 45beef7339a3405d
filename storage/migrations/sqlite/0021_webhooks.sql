-- Signed webhooks (core/webhooks.py, core/events.py): the endpoints, their signing
-- secrets (sealed with the keyring like TOTP secrets), the events, written in the
-- transaction of the change, and one delivery per event and endpoint (the outbox).

CREATE TABLE webhook_endpoints (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    url                 TEXT NOT NULL,
    -- comma-separated event types; '' means every type
    event_types         TEXT NOT NULL DEFAULT '',
    allow_private       INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    last_delivery_at    INTEGER,
    -- the oldest failed delivery still waiting: how long the receiver has been failing
    failing_since       INTEGER,
    disabled_at         INTEGER,
    disabled_reason     TEXT
);

-- The secret that signs (expires_at NULL) and, for a day after a rotation, the one
-- before it. account_id is "webhook:<name>": the sealed value's associated data binds
-- it to this row (storage/repositories/sealed.py).
CREATE TABLE webhook_secrets (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    secret_sealed   BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER
);
CREATE INDEX webhook_secrets_by_endpoint ON webhook_secrets (endpoint_id);

CREATE TABLE webhook_events (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (account_id, seq)
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES webhook_events (id),
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    first_failed_at INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    set_aside_at    INTEGER
);
CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries (endpoint_id, delivered_at, set_aside_at, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
