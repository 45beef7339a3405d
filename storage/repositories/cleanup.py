"""Chat messages to delete."""

from __future__ import annotations

from datetime import datetime

from storage.records import (
    CleanupItem,
    to_ts,
)
from storage.repositories.base import Repository


class CleanupRepository(Repository):
    def schedule(self, chat_id: int, message_ids: list[int], due_at: datetime) -> None:
        """Delete these messages at ``due_at`` (now, for most; later for recovery codes)."""
        for message_id in message_ids:
            self._run(
                "INSERT INTO chat_cleanup (chat_id, message_id, due_at) VALUES (?, ?, ?)"
                " ON CONFLICT (chat_id, message_id) DO NOTHING",
                (chat_id, message_id, to_ts(due_at)),
            )

    def hasten(self, chat_id: int, message_id: int, now: datetime) -> bool:
        """A message that waits for its time is due now. False: none waits (it is gone)."""
        return (
            self._run(
                "UPDATE chat_cleanup SET due_at = ? WHERE chat_id = ? AND message_id = ?",
                (to_ts(now), chat_id, message_id),
            )
            == 1
        )

    def cancel(self, chat_id: int, message_id: int) -> bool:
        """The message is not to be deleted after all (a guess of an id that proved wrong).
        False: no row for it."""
        return (
            self._run(
                "DELETE FROM chat_cleanup WHERE chat_id = ? AND message_id = ?",
                (chat_id, message_id),
            )
            == 1
        )

    def due(self, now: datetime, limit: int = 50, chat_id: int | None = None) -> list[CleanupItem]:
        chat_filter = "" if chat_id is None else " AND chat_id = ?"
        rows = self._all(
            "SELECT id, chat_id, message_id, attempts FROM chat_cleanup"
            f" WHERE due_at <= ?{chat_filter} ORDER BY due_at, id LIMIT ?",
            (to_ts(now), limit) if chat_id is None else (to_ts(now), chat_id, limit),
        )
        return [CleanupItem(*row) for row in rows]

    def done(self, item_id: int) -> None:
        self._run("DELETE FROM chat_cleanup WHERE id = ?", (item_id,))

    def retry_later(self, item_id: int, due_at: datetime) -> None:
        self._run(
            "UPDATE chat_cleanup SET attempts = attempts + 1, due_at = ? WHERE id = ?",
            (to_ts(due_at), item_id),
        )
