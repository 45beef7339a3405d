"""Notices for the people of an account."""

from __future__ import annotations

import json
from datetime import datetime

from storage.records import (
    UserNotice,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository


class NoticeRepository(Repository):
    def add(
        self,
        account_id: str,
        kind: str,
        now: datetime,
        *,
        skip_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO user_notices (account_id, kind, detail, skip_user_id, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (account_id, kind, json.dumps(detail, default=str), skip_user_id, to_ts(now)),
        )

    def due(self, now: datetime, limit: int = 100) -> list[UserNotice]:
        rows = self._all(
            "SELECT id, account_id, kind, detail, skip_user_id, created_at, attempts"
            " FROM user_notices WHERE delivered_at IS NULL"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
            (to_ts(now), limit),
        )
        return [
            UserNotice(r[0], r[1], r[2], json.loads(r[3]), r[4], from_ts_required(r[5]), r[6])
            for r in rows
        ]

    def delivered(self, notice_id: int, now: datetime) -> None:
        self._run("UPDATE user_notices SET delivered_at = ? WHERE id = ?", (to_ts(now), notice_id))

    def retry_later(self, notice_id: int, at: datetime) -> None:
        self._run(
            "UPDATE user_notices SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
            (to_ts(at), notice_id),
        )

    def prune(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` notices delivered before ``before``; how many were."""
        return self._run(
            "DELETE FROM user_notices WHERE id IN (SELECT id FROM user_notices"
            " WHERE delivered_at < ? ORDER BY delivered_at LIMIT ?)",
            (to_ts(before), limit),
        )
