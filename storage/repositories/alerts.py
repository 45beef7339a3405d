"""The ops alert outbox."""

from __future__ import annotations

import json
from datetime import datetime

from storage.records import (
    AlertEvent,
    from_ts,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository


class AlertRepository(Repository):
    def raise_event(
        self,
        at: datetime,
        kind: str,
        severity: str,
        *,
        account_id: str | None = None,
        telegram_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO alert_events (at, kind, severity, account_id, telegram_user_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                to_ts(at),
                kind,
                severity,
                account_id,
                telegram_user_id,
                json.dumps(detail, default=str),
            ),
        )

    def due(self, now: datetime, limit: int = 200) -> list[AlertEvent]:
        """Undelivered events whose next attempt is due, oldest first."""
        rows = self._all(
            "SELECT id, at, kind, severity, account_id, telegram_user_id, detail, attempts"
            " FROM alert_events WHERE delivered_at IS NULL"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
            (to_ts(now), limit),
        )
        return [
            AlertEvent(r[0], from_ts_required(r[1]), r[2], r[3], r[4], r[5], json.loads(r[6]), r[7])
            for r in rows
        ]

    def last_delivered_at(self, kind: str) -> datetime | None:
        row = self._one("SELECT MAX(delivered_at) FROM alert_events WHERE kind = ?", (kind,))
        return from_ts(row[0]) if row else None

    def mark_delivered(self, ids: list[int], now: datetime) -> None:
        for event_id in ids:
            self._run(
                "UPDATE alert_events SET delivered_at = ? WHERE id = ?", (to_ts(now), event_id)
            )

    def retry_later(self, ids: list[int], at: datetime) -> None:
        for event_id in ids:
            self._run(
                "UPDATE alert_events SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                (to_ts(at), event_id),
            )

    def depth(self) -> int:
        row = self._one("SELECT COUNT(*) FROM alert_events WHERE delivered_at IS NULL")
        return int(row[0]) if row else 0
