"""The append-only audit log."""

from __future__ import annotations

import json
from datetime import datetime

from storage.records import (
    AuditEntry,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository


class AuditRepository(Repository):
    def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        *,
        account_id: str | None = None,
        telegram_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO audit_log (at, actor, telegram_user_id, account_id, action, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                to_ts(at),
                actor,
                telegram_user_id,
                account_id,
                action,
                json.dumps(detail, default=str),
            ),
        )

    def failures_by_user_since(self, telegram_user_id: int, since: datetime) -> int:
        """Failed checks and rejected enrolment codes of one Telegram user since a time."""
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE telegram_user_id = ? AND at >= ? AND ("
            " action = 'enrolment_code_rejected' OR action = 'enrolment_failed' OR"
            " (action = 'code_checked' AND json_extract(detail, '$.result') = 'rejected'))",
            (telegram_user_id, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def failed_checks_since(self, account_id: str, since: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE account_id = ? AND action = 'code_checked'"
            " AND at >= ? AND json_extract(detail, '$.result') IN ('rejected', 'locked')",
            (account_id, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def entries(self, account_id: str | None = None) -> list[AuditEntry]:
        if account_id is None:
            rows = self._all("SELECT * FROM audit_log ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM audit_log WHERE account_id = ? ORDER BY id", (account_id,)
            )
        return [
            AuditEntry(row[0], from_ts_required(row[1]), row[2], row[3], row[4], row[5], row[6])
            for row in rows
        ]
