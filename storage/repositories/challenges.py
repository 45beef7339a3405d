"""Login approvals in the chat: the challenges and the messages that show them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.records import (
    Challenge,
    ChallengeMessage,
    from_ts,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository, ts_or_none

_COLUMNS = (
    "id, account_id, client, number, choices, context, status, reason, created_at,"
    " expires_at, decided_at, decided_by, used_at, sent_at, outcome_shown_at, attempts"
)
PENDING = "pending"


def _challenge(row: tuple[Any, ...]) -> Challenge:
    return Challenge(
        id=row[0],
        account_id=row[1],
        client=row[2],
        number=row[3],
        choices=tuple(c for c in row[4].split(",") if c),
        context=json.loads(row[5]),
        status=row[6],
        reason=row[7],
        created_at=from_ts_required(row[8]),
        expires_at=from_ts_required(row[9]),
        decided_at=from_ts(row[10]),
        decided_by=row[11],
        used_at=from_ts(row[12]),
        sent_at=from_ts(row[13]),
        outcome_shown_at=from_ts(row[14]),
        attempts=row[15],
    )


class ChallengeRepository(Repository):
    def add(self, challenge: Challenge) -> bool:
        """Insert a pending challenge; False when the account has one pending already
        (the partial unique index decides, across processes)."""
        row = self._one(
            f"INSERT INTO challenges ({_COLUMNS}) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, NULL, NULL, 0)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (
                challenge.id,
                challenge.account_id,
                challenge.client,
                challenge.number,
                ",".join(challenge.choices),
                json.dumps(challenge.context, ensure_ascii=False),
                PENDING,
                to_ts(challenge.created_at),
                to_ts(challenge.expires_at),
            ),
        )
        return row is not None

    def get(self, challenge_id: str) -> Challenge | None:
        row = self._one(f"SELECT {_COLUMNS} FROM challenges WHERE id = ?", (challenge_id,))
        return None if row is None else _challenge(row)

    def pending_of(self, account_id: str) -> Challenge | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM challenges WHERE account_id = ? AND status = ?",
            (account_id, PENDING),
        )
        return None if row is None else _challenge(row)

    def recent(self, account_id: str, limit: int) -> list[Challenge]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM challenges WHERE account_id = ?"
            " ORDER BY created_at DESC, id LIMIT ?",
            (account_id, limit),
        )
        return [_challenge(row) for row in rows]

    def refusals_since(self, account_id: str, since: datetime) -> list[Challenge]:
        """Declined and expired challenges decided since a time, newest first."""
        rows = self._all(
            f"SELECT {_COLUMNS} FROM challenges WHERE account_id = ?"
            " AND status IN ('declined', 'expired') AND decided_at >= ?"
            " ORDER BY decided_at DESC, id",
            (account_id, to_ts(since)),
        )
        return [_challenge(row) for row in rows]

    def decide(
        self,
        challenge_id: str,
        status: str,
        reason: str | None,
        decided_at: datetime,
        decided_by: int | None,
    ) -> bool:
        """Pending -> ``status``, once: False when it was decided already."""
        return (
            self._run(
                "UPDATE challenges SET status = ?, reason = ?, decided_at = ?, decided_by = ?"
                " WHERE id = ? AND status = ?",
                (status, reason, to_ts(decided_at), decided_by, challenge_id, PENDING),
            )
            == 1
        )

    def use(self, challenge_id: str, now: datetime) -> bool:
        """An accepted challenge becomes a login once: False when it was used already."""
        return (
            self._run(
                "UPDATE challenges SET used_at = ?"
                " WHERE id = ? AND status = 'accepted' AND used_at IS NULL",
                (to_ts(now), challenge_id),
            )
            == 1
        )

    def expired_pending(self, now: datetime, limit: int = 100) -> list[Challenge]:
        rows = self._all(
            f"SELECT {_COLUMNS} FROM challenges WHERE status = ? AND expires_at <= ?"
            " ORDER BY expires_at LIMIT ?",
            (PENDING, to_ts(now), limit),
        )
        return [_challenge(row) for row in rows]

    def statuses(self, challenge_ids: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        """Status and expiry of each challenge named (the long polls' shared look)."""
        if not challenge_ids:
            return {}
        marks = ", ".join("?" for _ in challenge_ids)
        rows = self._all(
            f"SELECT id, status, expires_at FROM challenges WHERE id IN ({marks})",
            tuple(challenge_ids),
        )
        return {row[0]: (row[1], from_ts_required(row[2])) for row in rows}

    # ------------------------------------------------------------------ the outbox

    def to_send(self, now: datetime, limit: int = 50) -> list[Challenge]:
        """Pending challenges whose message is not sent yet (and is due)."""
        rows = self._all(
            f"SELECT {_COLUMNS} FROM challenges WHERE status = ? AND sent_at IS NULL"
            " AND expires_at > ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY created_at LIMIT ?",
            (PENDING, to_ts(now), to_ts(now), limit),
        )
        return [_challenge(row) for row in rows]

    def mark_sent(self, challenge_id: str, now: datetime) -> None:
        self._run("UPDATE challenges SET sent_at = ? WHERE id = ?", (to_ts(now), challenge_id))

    def retry_later(self, challenge_id: str, at: datetime) -> None:
        self._run(
            "UPDATE challenges SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
            (ts_or_none(at), challenge_id),
        )

    def outcomes_to_show(self, limit: int = 50) -> list[Challenge]:
        """Decided challenges whose messages do not show the outcome yet."""
        rows = self._all(
            f"SELECT {_COLUMNS} FROM challenges WHERE outcome_shown_at IS NULL"
            " AND status <> ? ORDER BY decided_at LIMIT ?",
            (PENDING, limit),
        )
        return [_challenge(row) for row in rows]

    def outcome_shown(self, challenge_id: str, now: datetime) -> None:
        self._run(
            "UPDATE challenges SET outcome_shown_at = ? WHERE id = ?", (to_ts(now), challenge_id)
        )

    def add_message(self, message: ChallengeMessage) -> None:
        self._run(
            "INSERT INTO challenge_messages (challenge_id, user_id, message_id, language)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (message.challenge_id, message.user_id, message.message_id, message.language),
        )

    def messages(self, challenge_id: str) -> list[ChallengeMessage]:
        rows = self._all(
            "SELECT challenge_id, user_id, message_id, language FROM challenge_messages"
            " WHERE challenge_id = ? ORDER BY user_id",
            (challenge_id,),
        )
        return [ChallengeMessage(r[0], r[1], r[2], r[3]) for r in rows]
