"""The language each Telegram user reads."""

from __future__ import annotations

from datetime import datetime

from storage.records import to_ts
from storage.repositories.base import Repository


class LanguageRepository(Repository):
    def get(self, user_id: int) -> tuple[str | None, str | None]:
        """(the language picked with /language, the one Telegram reported last)."""
        row = self._one(
            "SELECT chosen, telegram FROM user_languages WHERE telegram_user_id = ?", (user_id,)
        )
        return (None, None) if row is None else (row[0], row[1])

    def of(self, user_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
        if not user_ids:
            return {}
        marks = ", ".join("?" for _ in user_ids)
        rows = self._all(
            "SELECT telegram_user_id, chosen, telegram FROM user_languages"
            f" WHERE telegram_user_id IN ({marks})",
            tuple(user_ids),
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    def seen(self, user_id: int, telegram: str | None, now: datetime) -> None:
        """Remember the language Telegram reports for the user's app."""
        self._run(
            "INSERT INTO user_languages (telegram_user_id, telegram, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (telegram_user_id) DO UPDATE SET telegram = excluded.telegram,"
            " updated_at = excluded.updated_at",
            (user_id, telegram, to_ts(now)),
        )

    def choose(self, user_id: int, language: str, now: datetime) -> None:
        self._run(
            "INSERT INTO user_languages (telegram_user_id, chosen, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (telegram_user_id) DO UPDATE SET chosen = excluded.chosen,"
            " updated_at = excluded.updated_at",
            (user_id, language, to_ts(now)),
        )
