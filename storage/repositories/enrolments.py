"""Pending enrolments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    PendingEnrolment,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository

_ENROLMENT_COLUMNS = (
    "id, telegram_user_id, chat_id, account_id, secret_sealed, attempts_left,"
    " accepted_step, device_name, created_at, expires_at, qr_message_id, key_message_id,"
    " code_message_id, qr_expected_message_id, key_expected_message_id"
)


def _enrolment(row: tuple[Any, ...]) -> PendingEnrolment:
    return PendingEnrolment(
        id=row[0],
        telegram_user_id=row[1],
        chat_id=row[2],
        account_id=row[3],
        secret_sealed=bytes(row[4]),
        attempts_left=row[5],
        accepted_step=row[6],
        device_name=row[7],
        created_at=from_ts_required(row[8]),
        expires_at=from_ts_required(row[9]),
        qr_message_id=row[10],
        key_message_id=row[11],
        code_message_id=row[12],
        qr_expected_message_id=row[13],
        key_expected_message_id=row[14],
    )


class EnrolmentRepository(Repository):
    def create(self, enrolment: PendingEnrolment) -> None:
        e = enrolment
        self._run(
            f"INSERT INTO pending_enrolments ({_ENROLMENT_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.id,
                e.telegram_user_id,
                e.chat_id,
                e.account_id,
                e.secret_sealed,
                e.attempts_left,
                e.accepted_step,
                e.device_name,
                to_ts(e.created_at),
                to_ts(e.expires_at),
                e.qr_message_id,
                e.key_message_id,
                e.code_message_id,
                e.qr_expected_message_id,
                e.key_expected_message_id,
            ),
        )

    def for_user(self, telegram_user_id: int) -> PendingEnrolment | None:
        row = self._one(
            f"SELECT {_ENROLMENT_COLUMNS} FROM pending_enrolments WHERE telegram_user_id = ?",
            (telegram_user_id,),
        )
        return None if row is None else _enrolment(row)

    def get(self, enrolment_id: str) -> PendingEnrolment | None:
        row = self._one(
            f"SELECT {_ENROLMENT_COLUMNS} FROM pending_enrolments WHERE id = ?", (enrolment_id,)
        )
        return None if row is None else _enrolment(row)

    def expired(self, now: datetime, limit: int = 100) -> list[PendingEnrolment]:
        rows = self._all(
            f"SELECT {_ENROLMENT_COLUMNS} FROM pending_enrolments"
            " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
            (to_ts(now), limit),
        )
        return [_enrolment(row) for row in rows]

    def update(self, enrolment_id: str, **fields: object) -> None:
        """Set the named columns; names come from our code, never from input."""
        allowed = {
            "attempts_left",
            "accepted_step",
            "device_name",
            "qr_message_id",
            "key_message_id",
            "code_message_id",
            "qr_expected_message_id",
            "key_expected_message_id",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._run(
            f"UPDATE pending_enrolments SET {assignments} WHERE id = ?",
            (*fields.values(), enrolment_id),
        )

    def record_message(self, enrolment_id: str, kind: str, message_id: int) -> None:
        """Remember the chat message ("qr", "key" or "code") of an enrolment; a recorded QR
        or key replaces the guess of its id."""
        if kind == "qr":
            self.update(enrolment_id, qr_message_id=message_id, qr_expected_message_id=None)
        elif kind == "key":
            self.update(enrolment_id, key_message_id=message_id, key_expected_message_id=None)
        elif kind == "code":
            self.update(enrolment_id, code_message_id=message_id)
        else:
            raise ValueError(f"not an enrolment message: {kind!r}")

    def delete(self, enrolment_id: str) -> bool:
        return self._run("DELETE FROM pending_enrolments WHERE id = ?", (enrolment_id,)) == 1
