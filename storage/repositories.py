"""One repository per aggregate, all bound to the transaction that owns them.

Plain synchronous code: it runs on the database thread, inside ``Database.run``.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from storage.records import (
    AccountSecurity,
    AlertEvent,
    AuditEntry,
    ChatPrompt,
    CleanupItem,
    DeactivationRequest,
    Device,
    EnrollmentLink,
    EnrolmentStage,
    PendingEnrolment,
    RequestStatus,
    TelegramUserLink,
    UserNotice,
    from_ts,
    from_ts_required,
    to_ts,
)


class _Repository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(sql, params).rowcount


class AccountRepository(_Repository):
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


_DEVICE_COLUMNS = "id, account_id, name, secret_sealed, created_at, last_used_at, last_used_step"


def _device(row: tuple[Any, ...]) -> Device:
    return Device(
        id=row[0],
        account_id=row[1],
        name=row[2],
        secret_sealed=bytes(row[3]),
        created_at=from_ts_required(row[4]),
        last_used_at=from_ts(row[5]),
        last_used_step=row[6],
    )


class DeviceRepository(_Repository):
    def add(
        self,
        device_id: str,
        account_id: str,
        name: str,
        secret_sealed: bytes,
        created_by_user_id: int | None,
        last_used_step: int | None,
        now: datetime,
    ) -> Device:
        self._run(
            "INSERT INTO devices (id, account_id, name, secret_sealed, created_at,"
            " created_by_user_id, last_used_step) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                device_id,
                account_id,
                name,
                secret_sealed,
                to_ts(now),
                created_by_user_id,
                last_used_step,
            ),
        )
        device = self.get(device_id)
        assert device is not None
        return device

    def get(self, device_id: str) -> Device | None:
        row = self._one(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,))
        return None if row is None else _device(row)

    def mark_used(self, device_id: str, step: int, now: datetime) -> bool:
        """Spend a time step: only a later step than the last accepted one moves it."""
        return (
            self._run(
                "UPDATE devices SET last_used_step = ?, last_used_at = ?"
                " WHERE id = ? AND (last_used_step IS NULL OR last_used_step < ?)",
                (step, to_ts(now), device_id, step),
            )
            == 1
        )

    def revoke(self, device_id: str, now: datetime) -> bool:
        return (
            self._run(
                "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (to_ts(now), device_id),
            )
            == 1
        )

    def rename(self, device_id: str, name: str) -> bool:
        return (
            self._run(
                "UPDATE devices SET name = ? WHERE id = ? AND revoked_at IS NULL", (name, device_id)
            )
            == 1
        )

    def revoked_at(self, account_id: str, moment: datetime) -> list[Device]:
        """The devices revoked at that moment (e.g. by an approved deactivation)."""
        rows = self._all(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE account_id = ? AND revoked_at = ?"
            " ORDER BY created_at, id",
            (account_id, to_ts(moment)),
        )
        return [_device(row) for row in rows]

    def revoke_all(self, account_id: str, now: datetime) -> list[Device]:
        """Revoke every active device of the account; returns them."""
        devices = self.active_for(account_id)
        self._run(
            "UPDATE devices SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
            (to_ts(now), account_id),
        )
        return devices

    def active_for(self, account_id: str) -> list[Device]:
        rows = self._all(
            f"SELECT {_DEVICE_COLUMNS} FROM devices"
            " WHERE account_id = ? AND revoked_at IS NULL ORDER BY created_at, id",
            (account_id,),
        )
        return [_device(row) for row in rows]


_ENROLMENT_COLUMNS = (
    "id, telegram_user_id, chat_id, account_id, secret_sealed, stage, attempts_left,"
    " accepted_step, device_name, created_at, expires_at, qr_message_id, key_message_id,"
    " code_message_id"
)


def _enrolment(row: tuple[Any, ...]) -> PendingEnrolment:
    return PendingEnrolment(
        id=row[0],
        telegram_user_id=row[1],
        chat_id=row[2],
        account_id=row[3],
        secret_sealed=bytes(row[4]),
        stage=EnrolmentStage(row[5]),
        attempts_left=row[6],
        accepted_step=row[7],
        device_name=row[8],
        created_at=from_ts_required(row[9]),
        expires_at=from_ts_required(row[10]),
        qr_message_id=row[11],
        key_message_id=row[12],
        code_message_id=row[13],
    )


class EnrolmentRepository(_Repository):
    def create(self, enrolment: PendingEnrolment) -> None:
        e = enrolment
        self._run(
            f"INSERT INTO pending_enrolments ({_ENROLMENT_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.id,
                e.telegram_user_id,
                e.chat_id,
                e.account_id,
                e.secret_sealed,
                e.stage.value,
                e.attempts_left,
                e.accepted_step,
                e.device_name,
                to_ts(e.created_at),
                to_ts(e.expires_at),
                e.qr_message_id,
                e.key_message_id,
                e.code_message_id,
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
            "stage",
            "attempts_left",
            "accepted_step",
            "device_name",
            "qr_message_id",
            "key_message_id",
            "code_message_id",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = [v.value if isinstance(v, EnrolmentStage) else v for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._run(
            f"UPDATE pending_enrolments SET {assignments} WHERE id = ?",
            (*values, enrolment_id),
        )

    def delete(self, enrolment_id: str) -> bool:
        return self._run("DELETE FROM pending_enrolments WHERE id = ?", (enrolment_id,)) == 1


class CleanupRepository(_Repository):
    def schedule(self, chat_id: int, message_ids: list[int], now: datetime) -> None:
        for message_id in message_ids:
            self._run(
                "INSERT INTO chat_cleanup (chat_id, message_id, due_at) VALUES (?, ?, ?)"
                " ON CONFLICT (chat_id, message_id) DO NOTHING",
                (chat_id, message_id, to_ts(now)),
            )

    def due(self, now: datetime, limit: int = 50, chat_id: int | None = None) -> list[CleanupItem]:
        chat_filter = "" if chat_id is None else " AND chat_id = ?"
        rows = self._all(
            "SELECT id, chat_id, message_id, attempts FROM chat_cleanup"
            f" WHERE due_at <= ?{chat_filter} ORDER BY due_at, id LIMIT ?",
            (to_ts(now), limit) if chat_id is None else (to_ts(now), chat_id, limit),
        )
        return [CleanupItem(*row) for row in rows]

    def done(self, item_id: int) -> None:
        self._run("DELETE FROM chat_cleanup WHERE id = ?", (item_id,))

    def retry_later(self, item_id: int, due_at: datetime) -> None:
        self._run(
            "UPDATE chat_cleanup SET attempts = attempts + 1, due_at = ? WHERE id = ?",
            (to_ts(due_at), item_id),
        )


class AuditRepository(_Repository):
    def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        *,
        account_id: str | None = None,
        telegram_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO audit_log (at, actor, telegram_user_id, account_id, action, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                to_ts(at),
                actor,
                telegram_user_id,
                account_id,
                action,
                json.dumps(detail, default=str),
            ),
        )

    def failures_by_user_since(self, telegram_user_id: int, since: datetime) -> int:
        """Failed checks and rejected enrolment codes of one Telegram user since a time."""
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE telegram_user_id = ? AND at >= ? AND ("
            " action = 'enrolment_code_rejected' OR action = 'enrolment_failed' OR"
            " (action = 'code_checked' AND json_extract(detail, '$.result') = 'rejected'))",
            (telegram_user_id, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def failed_checks_since(self, account_id: str, since: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE account_id = ? AND action = 'code_checked'"
            " AND at >= ? AND json_extract(detail, '$.result') IN ('rejected', 'locked')",
            (account_id, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def entries(self, account_id: str | None = None) -> list[AuditEntry]:
        if account_id is None:
            rows = self._all("SELECT * FROM audit_log ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM audit_log WHERE account_id = ? ORDER BY id", (account_id,)
            )
        return [
            AuditEntry(row[0], from_ts_required(row[1]), row[2], row[3], row[4], row[5], row[6])
            for row in rows
        ]


_SECURITY_WITH_DEVICES = (
    "SELECT s.consecutive_failures, s.locked_until, s.hard_locked_at, s.deactivated_until, "
    + ", ".join(f"d.{column.strip()}" for column in _DEVICE_COLUMNS.split(","))
    + " FROM (SELECT ? AS account_id) AS a"
    " LEFT JOIN account_security AS s ON s.account_id = a.account_id"
    " LEFT JOIN devices AS d ON d.account_id = a.account_id AND d.revoked_at IS NULL"
    " ORDER BY d.created_at, d.id"
)


class SecurityRepository(_Repository):
    def get(self, account_id: str) -> AccountSecurity:
        row = self._one(
            "SELECT consecutive_failures, locked_until, hard_locked_at, deactivated_until"
            " FROM account_security WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return AccountSecurity(account_id)
        return AccountSecurity(
            account_id, row[0], from_ts(row[1]), from_ts(row[2]), from_ts(row[3])
        )

    def with_devices(self, account_id: str) -> tuple[AccountSecurity, list[Device]]:
        """The account's lock state and active devices in one statement (the hot path of
        every verification)."""
        rows = self._all(_SECURITY_WITH_DEVICES, (account_id,))
        first = rows[0]
        state = (
            AccountSecurity(account_id)
            if first[0] is None
            else AccountSecurity(
                account_id, first[0], from_ts(first[1]), from_ts(first[2]), from_ts(first[3])
            )
        )
        return state, [_device(row[4:]) for row in rows if row[4] is not None]

    def save(self, state: AccountSecurity, now: datetime) -> None:
        self._run(
            "INSERT INTO account_security (account_id, consecutive_failures, locked_until,"
            " hard_locked_at, deactivated_until, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET"
            " consecutive_failures = excluded.consecutive_failures,"
            " locked_until = excluded.locked_until, hard_locked_at = excluded.hard_locked_at,"
            " deactivated_until = excluded.deactivated_until, updated_at = excluded.updated_at",
            (
                state.account_id,
                state.consecutive_failures,
                _ts_or_none(state.locked_until),
                _ts_or_none(state.hard_locked_at),
                _ts_or_none(state.deactivated_until),
                to_ts(now),
            ),
        )


_LINK_COLUMNS = "id, account_id, created_at, expires_at, opened_by_user_id, used_at"


def _link(row: tuple[Any, ...]) -> EnrollmentLink:
    return EnrollmentLink(
        row[0], row[1], from_ts_required(row[2]), from_ts_required(row[3]), row[4], from_ts(row[5])
    )


class LinkRepository(_Repository):
    def create(
        self, link_id: str, token_hash: bytes, account_id: str, now: datetime, expires_at: datetime
    ) -> None:
        self._run(
            "INSERT INTO enrollment_links (id, token_hash, account_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (link_id, token_hash, account_id, to_ts(now), to_ts(expires_at)),
        )

    def by_token_hash(self, token_hash: bytes) -> EnrollmentLink | None:
        row = self._one(
            f"SELECT {_LINK_COLUMNS} FROM enrollment_links WHERE token_hash = ?", (token_hash,)
        )
        return None if row is None else _link(row)

    def get(self, link_id: str) -> EnrollmentLink | None:
        row = self._one(f"SELECT {_LINK_COLUMNS} FROM enrollment_links WHERE id = ?", (link_id,))
        return None if row is None else _link(row)

    def mark_opened(self, link_id: str, user_id: int) -> None:
        self._run(
            "UPDATE enrollment_links SET opened_by_user_id = ? WHERE id = ? AND used_at IS NULL",
            (user_id, link_id),
        )

    def mark_used(self, link_id: str, user_id: int, now: datetime) -> bool:
        """Use the link once: False when it was used already."""
        return (
            self._run(
                "UPDATE enrollment_links SET used_at = ?, used_by_user_id = ?"
                " WHERE id = ? AND used_at IS NULL",
                (to_ts(now), user_id, link_id),
            )
            == 1
        )


class PromptRepository(_Repository):
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


class AlertRepository(_Repository):
    def raise_event(
        self,
        at: datetime,
        kind: str,
        severity: str,
        *,
        account_id: str | None = None,
        telegram_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO alert_events (at, kind, severity, account_id, telegram_user_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                to_ts(at),
                kind,
                severity,
                account_id,
                telegram_user_id,
                json.dumps(detail, default=str),
            ),
        )

    def undelivered(self, limit: int = 100) -> list[tuple[Any, ...]]:
        return self._all(
            "SELECT id, at, kind, severity, account_id, telegram_user_id, detail"
            " FROM alert_events WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )

    def due(self, now: datetime, limit: int = 200) -> list[AlertEvent]:
        """Undelivered events whose next attempt is due, oldest first."""
        rows = self._all(
            "SELECT id, at, kind, severity, account_id, telegram_user_id, detail, attempts"
            " FROM alert_events WHERE delivered_at IS NULL"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
            (to_ts(now), limit),
        )
        return [
            AlertEvent(r[0], from_ts_required(r[1]), r[2], r[3], r[4], r[5], json.loads(r[6]), r[7])
            for r in rows
        ]

    def last_delivered_at(self, kind: str) -> datetime | None:
        row = self._one("SELECT MAX(delivered_at) FROM alert_events WHERE kind = ?", (kind,))
        return from_ts(row[0]) if row else None

    def mark_delivered(self, ids: list[int], now: datetime) -> None:
        for event_id in ids:
            self._run(
                "UPDATE alert_events SET delivered_at = ? WHERE id = ?", (to_ts(now), event_id)
            )

    def retry_later(self, ids: list[int], at: datetime) -> None:
        for event_id in ids:
            self._run(
                "UPDATE alert_events SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                (to_ts(at), event_id),
            )

    def depth(self) -> int:
        row = self._one("SELECT COUNT(*) FROM alert_events WHERE delivered_at IS NULL")
        return int(row[0]) if row else 0


class AgentRepository(_Repository):
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


class RequestRepository(_Repository):
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
        cursor = self._conn.execute(
            "INSERT INTO deactivation_requests (account_id, telegram_user_id, chat_id, username,"
            " display_name, reason, status, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
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
        created = self.get(int(cursor.lastrowid or 0))
        assert created is not None
        return created

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

    def history(self, account_id: str, limit: int = 10) -> list[DeactivationRequest]:
        rows = self._all(
            f"SELECT {_REQUEST_COLUMNS} FROM deactivation_requests WHERE account_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return [_request(row) for row in rows]

    def where(
        self, condition: str, params: tuple[Any, ...] = (), limit: int = 100
    ) -> list[DeactivationRequest]:
        """Requests matching a condition written in this package (never from input)."""
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
                    _ts_or_none(deactivated_until),
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

    def mark(self, request_id: int, column: str, value: object) -> None:
        allowed = {
            "support_shown_status",
            "user_told_status",
            "reminder_sent_at",
            "sla_alerted_at",
            "window_ended_at",
        }
        if column not in allowed:
            raise ValueError(f"not markable: {column}")
        if isinstance(value, datetime):
            value = to_ts(value)
        self._run(
            f"UPDATE deactivation_requests SET {column} = ? WHERE id = ?", (value, request_id)
        )


class RecoveryCodeRepository(_Repository):
    def replace_set(self, account_id: str, hashes: list[bytes], now: datetime) -> None:
        """A new set voids every unused code of the old one."""
        self._run(
            "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (to_ts(now), account_id),
        )
        for code_hash in hashes:
            self._run(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES (?, ?, ?)",
                (account_id, code_hash, to_ts(now)),
            )

    def use(self, account_id: str, code_hash: bytes, now: datetime) -> bool:
        """Spend a code once: False when it is unknown, used, voided or another account's."""
        return (
            self._run(
                "UPDATE recovery_codes SET used_at = ? WHERE account_id = ? AND code_hash = ?"
                " AND used_at IS NULL AND voided_at IS NULL",
                (to_ts(now), account_id, code_hash),
            )
            == 1
        )

    def remaining(self, account_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (account_id,),
        )
        return int(row[0]) if row else 0

    def void_all(self, account_id: str, now: datetime) -> None:
        self._run(
            "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (to_ts(now), account_id),
        )


class NoticeRepository(_Repository):
    def add(
        self,
        account_id: str,
        kind: str,
        now: datetime,
        *,
        skip_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO user_notices (account_id, kind, detail, skip_user_id, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (account_id, kind, json.dumps(detail, default=str), skip_user_id, to_ts(now)),
        )

    def due(self, now: datetime, limit: int = 100) -> list[UserNotice]:
        rows = self._all(
            "SELECT id, account_id, kind, detail, skip_user_id, created_at, attempts"
            " FROM user_notices WHERE delivered_at IS NULL"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
            (to_ts(now), limit),
        )
        return [
            UserNotice(r[0], r[1], r[2], json.loads(r[3]), r[4], from_ts_required(r[5]), r[6])
            for r in rows
        ]

    def delivered(self, notice_id: int, now: datetime) -> None:
        self._run("UPDATE user_notices SET delivered_at = ? WHERE id = ?", (to_ts(now), notice_id))

    def retry_later(self, notice_id: int, at: datetime) -> None:
        self._run(
            "UPDATE user_notices SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
            (to_ts(at), notice_id),
        )


def _ts_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else to_ts(moment)


class Transaction:
    """The repositories of one open transaction (see ``Database.run``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.connection = conn
        self.accounts = AccountRepository(conn)
        self.devices = DeviceRepository(conn)
        self.enrolments = EnrolmentRepository(conn)
        self.cleanup = CleanupRepository(conn)
        self.audit = AuditRepository(conn)
        self.security = SecurityRepository(conn)
        self.links = LinkRepository(conn)
        self.prompts = PromptRepository(conn)
        self.alerts = AlertRepository(conn)
        self.agents = AgentRepository(conn)
        self.requests = RequestRepository(conn)
        self.recovery = RecoveryCodeRepository(conn)
        self.notices = NoticeRepository(conn)

    def ping(self) -> bool:
        return self.connection.execute("SELECT 1").fetchone() == (1,)
