-- "2FA required": set by an account's first activation, cleared only by a proven turn-off
-- (the last device removed after a current code, or a recovery code, and a second yes).
-- An approved deactivation revokes the devices but leaves it set, so when the window
-- ends every login is refused (enrollment_required) until a new device is set up, where
-- before it fell back to the password alone (not_enrolled) for good.
ALTER TABLE account_security ADD COLUMN two_factor_required INTEGER NOT NULL DEFAULT 0;

-- Existing accounts, from their history. An activation is a row in devices (every
-- activation adds one, and devices are revoked, never deleted); a proven turn-off is an
-- audit_log entry 'two_factor_turned_off' (written with the revocation of the last device,
-- and the audit log is never pruned). An account is required when its latest device was
-- added at or after its latest turn-off, or it has none: a device added in the same second
-- as a turn-off counts as added after it (the safe side: a login asks for a code). This
-- covers devices in use, devices revoked by an approved deactivation (window running or
-- ended) and a set-up again after a turn-off. Accounts without a security row (from before
-- activation wrote one) get one.
INSERT INTO account_security (account_id, two_factor_required, updated_at)
SELECT d.account_id, 1, CAST(extract(epoch FROM now()) AS BIGINT)
FROM devices AS d
WHERE true
GROUP BY d.account_id
HAVING max(d.created_at) >= COALESCE(
    (SELECT max(t.at) FROM audit_log AS t
     WHERE t.account_id = d.account_id AND t.action = 'two_factor_turned_off'),
    max(d.created_at)
)
ON CONFLICT (account_id) DO UPDATE SET two_factor_required = 1;
