"""The Telegram updates a webhook received: kept until handled, remembered a while after."""

from __future__ import annotations

from datetime import datetime

from storage.records import from_ts_required, to_ts
from storage.repositories.base import Repository


class InboxRepository(Repository):
    def receive(self, update_id: int, payload: str, now: datetime) -> bool:
        """Keep an update to handle; False when this update_id is here already."""
        return (
            self._run(
                "INSERT INTO telegram_inbox (update_id, payload, received_at) VALUES (?, ?, ?)"
                " ON CONFLICT (update_id) DO NOTHING",
                (update_id, payload, to_ts(now)),
            )
            == 1
        )

    def handled(self, update_id: int, now: datetime) -> None:
        """Mark it handled; its body goes (a message may hold a code), its id stays."""
        self._run(
            "UPDATE telegram_inbox SET handled_at = ?, payload = NULL"
            " WHERE update_id = ? AND handled_at IS NULL",
            (to_ts(now), update_id),
        )

    def unhandled(self) -> list[tuple[int, str, int, datetime]]:
        """(update_id, payload, attempts, received_at) of those not handled, in arrival
        order."""
        rows = self._all(
            "SELECT update_id, payload, attempts, received_at FROM telegram_inbox"
            " WHERE handled_at IS NULL ORDER BY seq"
        )
        return [(row[0], row[1], row[2], from_ts_required(row[3])) for row in rows]

    def count_attempt(self, update_ids: list[int]) -> None:
        """One more start found these unhandled."""
        for update_id in update_ids:
            self._run(
                "UPDATE telegram_inbox SET attempts = attempts + 1 WHERE update_id = ?",
                (update_id,),
            )

    def forget(self, received_before: datetime, keep: int) -> int:
        """Handled ones received before ``received_before``, and those beyond the latest
        ``keep`` received: how many rows went. Unhandled ones stay."""
        by_age = self._run(
            "DELETE FROM telegram_inbox WHERE handled_at IS NOT NULL AND received_at < ?",
            (to_ts(received_before),),
        )
        by_count = self._run(
            "DELETE FROM telegram_inbox WHERE handled_at IS NOT NULL AND seq <="
            " (SELECT max(seq) FROM telegram_inbox) - ?",
            (keep,),
        )
        return by_age + by_count
