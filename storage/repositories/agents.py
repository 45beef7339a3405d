"""Support agents added by admins."""

from __future__ import annotations

from datetime import datetime

from storage.records import (
    to_ts,
)
from storage.repositories.base import Repository


class AgentRepository(Repository):
    def all(self) -> list[int]:
        return [row[0] for row in self._all("SELECT user_id FROM support_agents ORDER BY user_id")]

    def contains(self, user_id: int) -> bool:
        return self._one("SELECT 1 FROM support_agents WHERE user_id = ?", (user_id,)) is not None

    def add(self, user_id: int, added_by: int, now: datetime) -> bool:
        return (
            self._run(
                "INSERT INTO support_agents (user_id, added_by, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO NOTHING",
                (user_id, added_by, to_ts(now)),
            )
            == 1
        )

    def remove(self, user_id: int) -> bool:
        return self._run("DELETE FROM support_agents WHERE user_id = ?", (user_id,)) == 1
