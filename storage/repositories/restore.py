"""After a restore: what the restored database still holds as unspent, spent in bulk.

Only ``core.restore`` uses these; each statement changes only what is still live, so
running them twice changes nothing more the second time (but the time steps, which move
on with the clock).
"""

from __future__ import annotations

from datetime import datetime

from storage.records import from_ts, to_ts
from storage.repositories.base import Repository
from storage.repositories.recovery import RecoveryCodeRepository


class RestoreRepository(Repository):
    def latest_audit_at(self, besides: tuple[str, ...]) -> datetime | None:
        """When the restored audit log's latest entry was written, not counting the
        actions ``besides`` (a restore's own): about when the backup was taken (every
        verification writes one)."""
        marks = ", ".join("?" for _ in besides)
        row = self._one(f"SELECT max(at) FROM audit_log WHERE action NOT IN ({marks})", besides)
        return None if row is None else from_ts(row[0])

    def active_devices(self) -> int:
        row = self._one("SELECT count(*) FROM devices WHERE revoked_at IS NULL")
        return int(row[0]) if row else 0

    def spend_steps_through(self, step: int) -> int:
        """Every active device's codes up to ``step`` count as used; how many devices had
        a lower last used step (the others are there already)."""
        return self._run(
            "UPDATE devices SET last_used_step = ? WHERE revoked_at IS NULL"
            " AND (last_used_step IS NULL OR last_used_step < ?)",
            (step, step),
        )

    def void_links(self, now: datetime) -> int:
        """Enrolment links not used yet and not run out never bind anyone; how many."""
        return self._run(
            "UPDATE enrollment_links SET voided_at = ?"
            " WHERE used_at IS NULL AND voided_at IS NULL AND expires_at > ?",
            (to_ts(now), to_ts(now)),
        )

    def end_enrolments(self, now: datetime) -> int:
        """Pending enrolments run out now (the bot's expiry job ends them, tells the users
        and deletes their QR codes from the chats); how many."""
        return self._run(
            "UPDATE pending_enrolments SET expires_at = ? WHERE expires_at > ?",
            (to_ts(now), to_ts(now)),
        )

    def end_conversations(self, now: datetime) -> int:
        """Every waiting conversation runs out now (the user's next message hears so)."""
        return self._run(
            "UPDATE conversations SET expires_at = ? WHERE expires_at > ?",
            (to_ts(now), to_ts(now)),
        )

    def end_grants(self, now: datetime) -> int:
        """Unused grants run out now; how many."""
        return self._run(
            "UPDATE grants SET expires_at = ? WHERE used_at IS NULL AND expires_at > ?",
            (to_ts(now), to_ts(now)),
        )

    def accounts_with_2fa(self, after: str, limit: int) -> list[str]:
        """Accounts (by id, after ``after``) with an active device or an unused recovery
        code: those whose people hear of the restore."""
        rows = self._all(
            "SELECT id FROM accounts WHERE id > ? AND ("
            " EXISTS (SELECT 1 FROM devices d WHERE d.account_id = accounts.id"
            " AND d.revoked_at IS NULL) OR"
            " EXISTS (SELECT 1 FROM recovery_codes r WHERE r.account_id = accounts.id"
            " AND r.used_at IS NULL AND r.voided_at IS NULL))"
            " ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [row[0] for row in rows]

    def void_recovery_codes(self, account_id: str, now: datetime) -> int:
        """Void the account's unused recovery codes; how many."""
        return RecoveryCodeRepository(self._conn).void_all(account_id, now)

    def notice_waiting(self, account_id: str, kind: str) -> bool:
        """A notice of ``kind`` waits for delivery to the account's people."""
        return (
            self._one(
                "SELECT 1 FROM user_notices WHERE account_id = ? AND kind = ?"
                " AND delivered_at IS NULL",
                (account_id, kind),
            )
            is not None
        )
