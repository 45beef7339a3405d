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

_WAITING = "delivered_at IS NULL AND set_aside_at IS NULL"


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
        """Events waiting for delivery whose next attempt is due, oldest first."""
        rows = self._all(
            "SELECT id, at, kind, severity, account_id, telegram_user_id, detail, attempts"
            f" FROM alert_events WHERE {_WAITING}"
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

    def delivered_since(self, kind: str, since: datetime) -> int:
        """How many events of ``kind`` went out at or after ``since``."""
        row = self._one(
            "SELECT COUNT(*) FROM alert_events WHERE kind = ? AND delivered_at >= ?",
            (kind, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def mark_delivered(self, ids: list[int], now: datetime) -> None:
        for event_id in ids:
            self._run(
                "UPDATE alert_events SET delivered_at = ? WHERE id = ?", (to_ts(now), event_id)
            )

    def retry_later(self, ids: list[int], at: datetime, now: datetime) -> None:
        for event_id in ids:
            self._run(
                "UPDATE alert_events SET attempts = attempts + 1, next_attempt_at = ?,"
                " first_failed_at = COALESCE(first_failed_at, ?) WHERE id = ?",
                (to_ts(at), to_ts(now), event_id),
            )

    def set_aside_failing_since(self, ids: list[int], cutoff: datetime, now: datetime) -> int:
        """Set aside those of ``ids`` whose deliveries have failed since ``cutoff`` or
        earlier; how many were."""
        count = 0
        for event_id in ids:
            count += self._run(
                "UPDATE alert_events SET set_aside_at = ? WHERE id = ?"
                " AND set_aside_at IS NULL AND first_failed_at <= ?",
                (to_ts(now), event_id, to_ts(cutoff)),
            )
        return count

    def depth(self) -> int:
        """Events still waiting for delivery (set-aside ones are not)."""
        row = self._one(f"SELECT COUNT(*) FROM alert_events WHERE {_WAITING}")
        return int(row[0]) if row else 0

    def oldest_waiting_at(self) -> datetime | None:
        row = self._one(f"SELECT MIN(at) FROM alert_events WHERE {_WAITING}")
        return from_ts(row[0]) if row else None

    def set_aside_count(self) -> int:
        row = self._one("SELECT COUNT(*) FROM alert_events WHERE set_aside_at IS NOT NULL")
        return int(row[0]) if row else 0

    def prune(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` events delivered (or set aside) before ``before``; those
        still waiting stay whatever their age. How many were deleted."""
        cutoff = to_ts(before)
        deleted = self._run(
            "DELETE FROM alert_events WHERE id IN (SELECT id FROM alert_events"
            " WHERE delivered_at < ? ORDER BY delivered_at LIMIT ?)",
            (cutoff, limit),
        )
        if deleted < limit:
            deleted += self._run(
                "DELETE FROM alert_events WHERE id IN (SELECT id FROM alert_events"
                " WHERE set_aside_at < ? ORDER BY set_aside_at LIMIT ?)",
                (cutoff, limit - deleted),
            )
        return deleted
