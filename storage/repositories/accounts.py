"""Accounts and the Telegram users who manage them."""

from __future__ import annotations

from datetime import datetime

from storage.records import (
    TelegramUserLink,
    to_ts,
)
from storage.repositories.base import Repository


class AccountRepository(Repository):
    def ensure(self, account_id: str, now: datetime) -> None:
        self._run(
            "INSERT INTO accounts (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            (account_id, to_ts(now)),
        )

    def link_for(self, user_id: int) -> TelegramUserLink | None:
        row = self._one(
            "SELECT user_id, account_id, username, display_name FROM telegram_users"
            " WHERE user_id = ?",
            (user_id,),
        )
        return None if row is None else TelegramUserLink(*row)

    def users_of(self, account_id: str) -> list[TelegramUserLink]:
        """Every Telegram user who manages this account from the chat."""
        rows = self._all(
            "SELECT user_id, account_id, username, display_name FROM telegram_users"
            " WHERE account_id = ? ORDER BY user_id",
            (account_id,),
        )
        return [TelegramUserLink(*row) for row in rows]

    def save_link(
        self, user_id: int, account_id: str, username: str | None, display_name: str, now: datetime
    ) -> None:
        self._run(
            "INSERT INTO telegram_users"
            " (user_id, account_id, username, display_name, first_seen_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET account_id = excluded.account_id,"
            " username = excluded.username, display_name = excluded.display_name,"
            " updated_at = excluded.updated_at",
            (user_id, account_id, username, display_name, to_ts(now), to_ts(now)),
        )
