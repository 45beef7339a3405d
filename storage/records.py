"""Rows as the rest of the code sees them: frozen dataclasses, aware UTC times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def to_ts(moment: datetime) -> int:
    return int(moment.timestamp())


def from_ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def from_ts_required(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class EnrolmentStage(StrEnum):
    AWAITING_CODE = "awaiting_code"
    AWAITING_NAME = "awaiting_name"
    AWAITING_CONFIRMATION = "awaiting_confirmation"


@dataclass(frozen=True)
class TelegramUserLink:
    user_id: int
    account_id: str
    username: str | None
    display_name: str
    linked_at: datetime | None = None  # since when this user manages the account


@dataclass(frozen=True)
class Device:
    id: str
    account_id: str
    name: str
    secret_sealed: bytes
    created_at: datetime
    last_used_at: datetime | None
    last_used_step: int | None


@dataclass(frozen=True)
class PendingEnrolment:
    id: str
    telegram_user_id: int
    chat_id: int
    account_id: str
    secret_sealed: bytes
    attempts_left: int
    accepted_step: int | None
    device_name: str | None
    created_at: datetime
    expires_at: datetime
    qr_message_id: int | None
    key_message_id: int | None
    code_message_id: int | None
    qr_expected_message_id: int | None = None  # a QR sent but not recorded yet (a guess)
    key_expected_message_id: int | None = None  # a key sent but not recorded yet (a guess)

    @property
    def stage(self) -> EnrolmentStage:
        """How far the enrolment got, from what it holds (for /status and the audit
        trail). Never stored: the step it waits at is the user's conversation slot."""
        if self.accepted_step is None:
            return EnrolmentStage.AWAITING_CODE
        if self.device_name is None:
            return EnrolmentStage.AWAITING_NAME
        return EnrolmentStage.AWAITING_CONFIRMATION

    def chat_messages(self) -> list[int]:
        """Messages that must leave the chat when this enrolment ends."""
        ids = (
            self.qr_message_id,
            self.key_message_id,
            self.code_message_id,
            self.qr_expected_message_id,
            self.key_expected_message_id,
        )
        return sorted({i for i in ids if i is not None})


@dataclass(frozen=True)
class CleanupItem:
    id: int
    chat_id: int
    message_id: int
    attempts: int


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    telegram_user_id: int | None
    account_id: str | None
    action: str
    detail: str


@dataclass(frozen=True)
class ChainedEntry:
    """An audit row with its link in the chain (core/audit_chain.py)."""

    entry: AuditEntry
    seq: int
    key_id: str
    mac: bytes


@dataclass(frozen=True)
class AccountSecurity:
    account_id: str
    consecutive_failures: int = 0
    locked_until: datetime | None = None
    hard_locked_at: datetime | None = None
    deactivated_until: datetime | None = None
    # From the first activation until a proven turn-off: a login needs a second factor
    # (when no device can answer, it is refused), unless a deactivation window runs.
    two_factor_required: bool = False


@dataclass(frozen=True)
class EnrollmentLink:
    id: str
    account_id: str
    created_at: datetime
    expires_at: datetime
    opened_by_user_id: int | None
    used_at: datetime | None
    voided_at: datetime | None = None  # seen in a group, or the switch declined


@dataclass(frozen=True)
class Conversation:
    """What the bot waits for from one Telegram user: a flow, its step, its data."""

    user_id: int
    chat_id: int
    flow: str
    step: str
    data: dict[str, Any]
    offer: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime


class RequestStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


@dataclass(frozen=True)
class DeactivationRequest:
    id: int
    account_id: str
    telegram_user_id: int
    chat_id: int
    username: str | None
    display_name: str
    reason: str
    status: RequestStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    decided_by_name: str | None
    decision_reason: str | None
    deactivated_until: datetime | None
    support_chat_id: int | None
    support_message_id: int | None
    support_shown_status: str | None
    user_told_status: str | None
    reminder_sent_at: datetime | None


@dataclass(frozen=True)
class AlertEvent:
    id: int
    at: datetime
    kind: str
    severity: str
    account_id: str | None
    telegram_user_id: int | None
    detail: dict[str, object]
    attempts: int


@dataclass(frozen=True)
class UserNotice:
    id: int
    account_id: str
    kind: str
    detail: dict[str, object]
    skip_user_id: int | None
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class ApiClientRow:
    """A client of the HTTP API as stored: its scopes comma-separated, never its token."""

    name: str
    scopes: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class WebhookEndpoint:
    id: int
    name: str
    url: str
    event_types: tuple[str, ...]  # empty: every type
    allow_private: bool
    created_at: datetime
    last_delivery_at: datetime | None
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


@dataclass(frozen=True)
class WebhookSecret:
    id: str
    account_id: str  # "webhook:<endpoint name>": what the sealed value is bound to
    secret_sealed: bytes
    expires_at: datetime | None  # None: the current secret


@dataclass(frozen=True)
class WebhookDelivery:
    id: int
    endpoint_id: int
    message_id: str  # the webhook-id, the same on every attempt
    event_type: str
    body: str
    attempts: int
    next_attempt_at: datetime
    first_failed_at: datetime | None


@dataclass(frozen=True)
class Challenge:
    """A login waiting for (or given) approval in the chat (core/challenges.py)."""

    id: str
    account_id: str
    client: str  # the audit actor of the API client that asked
    number: str | None  # None: a plain approval (no number to match)
    choices: tuple[str, ...]  # the number buttons in the order shown
    context: dict[str, str]  # app, ip, location, as the login system sent them
    status: str
    reason: str | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    used_at: datetime | None
    sent_at: datetime | None
    outcome_shown_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class ChallengeMessage:
    """Where a challenge was shown: one recipient's message, and its language."""

    challenge_id: str
    user_id: int
    message_id: int
    language: str
