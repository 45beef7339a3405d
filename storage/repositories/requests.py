"""Deactivation requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    DeactivationRequest,
    RequestStatus,
    from_ts,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository, ts_or_none

_REQUEST_COLUMNS = (
    "id, account_id, telegram_user_id, chat_id, username, display_name, reason, status,"
    " created_at, expires_at, decided_at, decided_by, decided_by_name, decision_reason,"
    " deactivated_until, support_chat_id, support_message_id, support_shown_status,"
    " user_told_status, reminder_sent_at"
)


def _request(row: tuple[Any, ...]) -> DeactivationRequest:
    return DeactivationRequest(
        id=row[0],
        account_id=row[1],
        telegram_user_id=row[2],
        chat_id=row[3],
        username=row[4],
        display_name=row[5],
        reason=row[6],
        status=RequestStatus(row[7]),
        created_at=from_ts_required(row[8]),
        expires_at=from_ts_required(row[9]),
        decided_at=from_ts(row[10]),
        decided_by=row[11],
        decided_by_name=row[12],
        decision_reason=row[13],
        deactivated_until=from_ts(row[14]),
        support_chat_id=row[15],
        support_message_id=row[16],
        support_shown_status=row[17],
        user_told_status=row[18],
        reminder_sent_at=from_ts(row[19]),
    )


class RequestRepository(Repository):
    def create(
        self,
        account_id: str,
        telegram_user_id: int,
        chat_id: int,
        username: str | None,
        display_name: str,
        reason: str,
        now: datetime,
        expires_at: datetime,
    ) -> DeactivationRequest:
        row = self._one(
            "INSERT INTO deactivation_requests (account_id, telegram_user_id, chat_id, username,"
            " display_name, reason, status, created_at, expires_at)"
            f" VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?) RETURNING {_REQUEST_COLUMNS}",
            (
                account_id,
                telegram_user_id,
                chat_id,
                username,
                display_name,
                reason,
                to_ts(now),
                to_ts(expires_at),
            ),
        )
        assert row is not None
        return _request(row)

    def get(self, request_id: int) -> DeactivationRequest | None:
        row = self._one(
            f"SELECT {_REQUEST_COLUMNS} FROM deactivation_requests WHERE id = ?", (request_id,)
        )
        return None if row is None else _request(row)

    def open_for(self, account_id: str) -> DeactivationRequest | None:
        row = self._one(
            f"SELECT {_REQUEST_COLUMNS} FROM deactivation_requests"
            " WHERE account_id = ? AND status = 'open'",
            (account_id,),
        )
        return None if row is None else _request(row)

    def count_open(self) -> int:
        row = self._one("SELECT COUNT(*) FROM deactivation_requests WHERE status = 'open'")
        return int(row[0]) if row else 0

    def history(self, account_id: str, limit: int = 10) -> list[DeactivationRequest]:
        rows = self._all(
            f"SELECT {_REQUEST_COLUMNS} FROM deactivation_requests WHERE account_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return [_request(row) for row in rows]

    def open_requests(self) -> list[DeactivationRequest]:
        """The queue: open requests, oldest first."""
        return self._select("status = 'open'")

    def expired_open(self, now: datetime) -> list[DeactivationRequest]:
        """Open requests past their deadline (also those that fell due while the bot was down)."""
        return self._select("status = 'open' AND expires_at <= ?", (to_ts(now),))

    def waiting_longer_than(self, cutoff: datetime) -> list[DeactivationRequest]:
        """Open requests filed at or before ``cutoff`` that no alert was raised for yet."""
        return self._select(
            "status = 'open' AND sla_alerted_at IS NULL AND created_at <= ?", (to_ts(cutoff),)
        )

    def unposted(self) -> list[DeactivationRequest]:
        """Open requests not yet posted to the support chat."""
        return self._select("status = 'open' AND support_message_id IS NULL")

    def support_outdated(self) -> list[DeactivationRequest]:
        """Posted requests whose support message shows an older status."""
        return self._select(
            "support_message_id IS NOT NULL AND support_shown_status IS DISTINCT FROM status"
        )

    def users_to_tell(self) -> list[DeactivationRequest]:
        """Decided or expired requests whose user was not told this outcome yet."""
        return self._select(
            "status NOT IN ('open', 'withdrawn') AND user_told_status IS DISTINCT FROM status"
        )

    def windows_ended(self, now: datetime) -> list[DeactivationRequest]:
        """Approved windows that ran out by ``now`` and were not dealt with yet."""
        return self._select(
            "status = 'approved' AND window_ended_at IS NULL AND deactivated_until <= ?",
            (to_ts(now),),
        )

    def reminders_due(self, now: datetime, latest: datetime) -> list[DeactivationRequest]:
        """Approved windows still running at ``now`` that end by ``latest``, not reminded yet."""
        return self._select(
            "status = 'approved' AND reminder_sent_at IS NULL"
            " AND deactivated_until > ? AND deactivated_until <= ?",
            (to_ts(now), to_ts(latest)),
        )

    def _select(
        self, condition: str, params: tuple[Any, ...] = (), limit: int = 100
    ) -> list[DeactivationRequest]:
        rows = self._all(
            f"SELECT {_REQUEST_COLUMNS} FROM deactivation_requests WHERE {condition}"
            " ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [_request(row) for row in rows]

    def decide(
        self,
        request_id: int,
        status: RequestStatus,
        now: datetime,
        *,
        agent_id: int | None = None,
        agent_name: str | None = None,
        reason: str | None = None,
        deactivated_until: datetime | None = None,
    ) -> bool:
        """Close an open request; False when it was not open any more (someone was first)."""
        return (
            self._run(
                "UPDATE deactivation_requests SET status = ?, decided_at = ?, decided_by = ?,"
                " decided_by_name = ?, decision_reason = ?, deactivated_until = ?"
                " WHERE id = ? AND status = 'open'",
                (
                    status.value,
                    to_ts(now),
                    agent_id,
                    agent_name,
                    reason,
                    ts_or_none(deactivated_until),
                    request_id,
                ),
            )
            == 1
        )

    def set_support_message(self, request_id: int, chat_id: int, message_id: int) -> None:
        self._run(
            "UPDATE deactivation_requests SET support_chat_id = ?, support_message_id = ?,"
            " support_shown_status = 'open' WHERE id = ?",
            (chat_id, message_id, request_id),
        )

    def mark_support_shown(self, request_id: int, status: RequestStatus) -> None:
        """The support message now shows this status."""
        self._set(request_id, "support_shown_status", status.value)

    def mark_user_told(self, request_id: int, status: RequestStatus) -> None:
        """The user was told of this status (or cannot be told)."""
        self._set(request_id, "user_told_status", status.value)

    def mark_reminded(self, request_id: int, now: datetime) -> None:
        self._set(request_id, "reminder_sent_at", to_ts(now))

    def mark_sla_alerted(self, request_id: int, now: datetime) -> None:
        self._set(request_id, "sla_alerted_at", to_ts(now))

    def mark_window_ended(self, request_id: int, now: datetime) -> None:
        self._set(request_id, "window_ended_at", to_ts(now))

    def _set(self, request_id: int, column: str, value: object) -> None:
        # ``column`` is one of the literals above, never from the caller.
        self._run(
            f"UPDATE deactivation_requests SET {column} = ? WHERE id = ?", (value, request_id)
        )
