"""Accounts and the Telegram users who manage them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    TelegramUserLink,
    from_ts,
    to_ts,
)
from storage.repositories.base import Repository

_LINK_COLUMNS = "user_id, account_id, username, display_name, linked_at"


def _user_link(row: tuple[Any, ...]) -> TelegramUserLink:
    return TelegramUserLink(row[0], row[1], row[2], row[3], from_ts(row[4]))


class AccountRepository(Repository):
    def ensure(self, account_id: str, now: datetime) -> None:
        self._run(
            "INSERT INTO accounts (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            (account_id, to_ts(now)),
        )

    def link_for(self, user_id: int) -> TelegramUserLink | None:
        row = self._one(f"SELECT {_LINK_COLUMNS} FROM telegram_users WHERE user_id = ?", (user_id,))
        return None if row is None else _user_link(row)

    def users_of(self, account_id: str) -> list[TelegramUserLink]:
        """Every Telegram user who manages this account from the chat, longest first."""
        rows = self._all(
            f"SELECT {_LINK_COLUMNS} FROM telegram_users WHERE account_id = ?"
            " ORDER BY linked_at, user_id",
            (account_id,),
        )
        return [_user_link(row) for row in rows]

    def save_link(
        self, user_id: int, account_id: str, username: str | None, display_name: str, now: datetime
    ) -> None:
        """This user manages ``account_id`` (since now, unless they already did)."""
        self._run(
            "INSERT INTO telegram_users"
            " (user_id, account_id, username, display_name, first_seen_at, updated_at, linked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET"
            " linked_at = CASE WHEN telegram_users.account_id = excluded.account_id"
            " THEN COALESCE(telegram_users.linked_at, excluded.linked_at)"
            " ELSE excluded.linked_at END,"
            " account_id = excluded.account_id,"
            " username = excluded.username, display_name = excluded.display_name,"
            " updated_at = excluded.updated_at",
            (user_id, account_id, username, display_name, to_ts(now), to_ts(now), to_ts(now)),
        )
