"""The HTTP API's clients: a name, scopes and the hash of a token (core/clients.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import ApiClientRow, from_ts, from_ts_required, to_ts
from storage.repositories.base import Repository

_COLUMNS = "name, scopes, created_at, last_used_at, revoked_at"


def _client(row: tuple[Any, ...]) -> ApiClientRow:
    return ApiClientRow(row[0], row[1], from_ts_required(row[2]), from_ts(row[3]), from_ts(row[4]))


class ClientRepository(Repository):
    def add(self, token_hash: bytes, name: str, scopes: str, now: datetime) -> None:
        self._run(
            "INSERT INTO api_clients (token_hash, name, scopes, created_at) VALUES (?, ?, ?, ?)",
            (token_hash, name, scopes, to_ts(now)),
        )

    def active(self, name: str) -> ApiClientRow | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM api_clients WHERE name = ? AND revoked_at IS NULL", (name,)
        )
        return None if row is None else _client(row)

    def all_active(self) -> list[ApiClientRow]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM api_clients WHERE revoked_at IS NULL ORDER BY name"
        )
        return [_client(row) for row in rows]

    def any_active(self) -> bool:
        return self._one("SELECT 1 FROM api_clients WHERE revoked_at IS NULL LIMIT 1") is not None

    def by_token_hash(self, token_hash: bytes) -> ApiClientRow | None:
        """The client of this token, revoked or not."""
        row = self._one(f"SELECT {_COLUMNS} FROM api_clients WHERE token_hash = ?", (token_hash,))
        return None if row is None else _client(row)

    def mark_used(self, token_hash: bytes, now: datetime) -> None:
        self._run(
            "UPDATE api_clients SET last_used_at = ? WHERE token_hash = ?",
            (to_ts(now), token_hash),
        )

    def revoke(self, name: str, now: datetime) -> bool:
        """False when no client of that name is active."""
        return (
            self._run(
                "UPDATE api_clients SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (to_ts(now), name),
            )
            == 1
        )
