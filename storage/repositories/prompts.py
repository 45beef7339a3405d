"""What the bot waits for from a user."""

from __future__ import annotations

from datetime import datetime

from storage.records import (
    ChatPrompt,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository


class PromptRepository(Repository):
    def set(
        self,
        user_id: int,
        kind: str,
        now: datetime,
        expires_at: datetime,
        data: str | None = None,
    ) -> None:
        self._run(
            "INSERT INTO chat_prompts (telegram_user_id, kind, created_at, expires_at, data)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (telegram_user_id) DO UPDATE SET"
            " kind = excluded.kind, created_at = excluded.created_at,"
            " expires_at = excluded.expires_at, data = excluded.data",
            (user_id, kind, to_ts(now), to_ts(expires_at), data),
        )

    def get(self, user_id: int) -> ChatPrompt | None:
        row = self._one(
            "SELECT telegram_user_id, kind, expires_at, data FROM chat_prompts"
            " WHERE telegram_user_id = ?",
            (user_id,),
        )
        if row is None:
            return None
        return ChatPrompt(row[0], row[1], from_ts_required(row[2]), row[3])

    def clear(self, user_id: int) -> bool:
        return self._run("DELETE FROM chat_prompts WHERE telegram_user_id = ?", (user_id,)) == 1
