"""The conversation slot of each Telegram user, and the grants a proof leaves behind."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.records import Conversation, from_ts_required, to_ts
from storage.repositories.base import Repository

_COLUMNS = "telegram_user_id, chat_id, flow, step, data, offer, created_at, expires_at"


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(
        user_id=row[0],
        chat_id=row[1],
        flow=row[2],
        step=row[3],
        data=json.loads(row[4]),
        offer=None if row[5] is None else json.loads(row[5]),
        created_at=from_ts_required(row[6]),
        expires_at=from_ts_required(row[7]),
    )


class ConversationRepository(Repository):
    def get(self, user_id: int) -> Conversation | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM conversations WHERE telegram_user_id = ?", (user_id,)
        )
        return None if row is None else _conversation(row)

    def put(self, slot: Conversation) -> None:
        """Set the user's slot (replacing whatever it held)."""
        self._run(
            f"INSERT INTO conversations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (telegram_user_id) DO UPDATE SET chat_id = excluded.chat_id,"
            " flow = excluded.flow, step = excluded.step, data = excluded.data,"
            " offer = excluded.offer, created_at = excluded.created_at,"
            " expires_at = excluded.expires_at",
            (
                slot.user_id,
                slot.chat_id,
                slot.flow,
                slot.step,
                json.dumps(slot.data, sort_keys=True),
                None if slot.offer is None else json.dumps(slot.offer, sort_keys=True),
                to_ts(slot.created_at),
                to_ts(slot.expires_at),
            ),
        )

    def delete(self, user_id: int, flow: str | None = None) -> bool:
        """Empty the slot (only if it holds ``flow``, when given)."""
        statement = "DELETE FROM conversations WHERE telegram_user_id = ?"
        if flow is None:
            return self._run(statement, (user_id,)) == 1
        return self._run(statement + " AND flow = ?", (user_id, flow)) == 1

    def expired(self, now: datetime, limit: int = 100) -> list[Conversation]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM conversations WHERE expires_at <= ?"
            " ORDER BY expires_at LIMIT ?",
            (to_ts(now), limit),
        )
        return [_conversation(row) for row in rows]


# A grant of (user, account, kind, subject) not used yet and not expired at a moment.
_LIVE = (
    "telegram_user_id = ? AND account_id = ? AND kind = ? AND subject = ?"
    " AND used_at IS NULL AND expires_at > ?"
)


class GrantRepository(Repository):
    def issue(
        self,
        account_id: str,
        user_id: int,
        kind: str,
        subject: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        self._run(
            "INSERT INTO grants (account_id, telegram_user_id, kind, subject, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (account_id, user_id, kind, subject, to_ts(now), to_ts(expires_at)),
        )

    def consume(
        self, account_id: str, user_id: int, kind: str, subject: str, now: datetime
    ) -> bool:
        """Use one live grant (a conditional update: two uses at once cannot both win)."""
        return (
            self._run(
                f"UPDATE grants SET used_at = ? WHERE id = (SELECT id FROM grants WHERE {_LIVE}"
                " ORDER BY id LIMIT 1) AND used_at IS NULL",
                (to_ts(now), user_id, account_id, kind, subject, to_ts(now)),
            )
            == 1
        )

    def holds(self, account_id: str, user_id: int, kind: str, subject: str, now: datetime) -> bool:
        """Whether a live grant is there (``consume`` would use one)."""
        live = (user_id, account_id, kind, subject, to_ts(now))
        return self._one(f"SELECT 1 FROM grants WHERE {_LIVE}", live) is not None

    def prune(self, before: datetime) -> int:
        return self._run("DELETE FROM grants WHERE expires_at <= ?", (to_ts(before),))
