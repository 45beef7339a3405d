"""A login approval's states, and what the challenge service answers (``core.challenges``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.records import Challenge, TelegramUserLink


class Status(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Reason(StrEnum):
    """Why a challenge was declined."""

    WRONG_NUMBER = "wrong_number"
    REPORTED = "reported"  # "This wasn't me"
    LOCKED = "locked"  # the right answer, but the account was locked meanwhile


class Refusal(StrEnum):
    """Why no challenge was opened."""

    DISABLED = "disabled"  # PUSH_APPROVAL=off
    NOT_ENROLLED = "not_enrolled"
    ENROLLMENT_REQUIRED = "enrollment_required"
    LOCKED = "locked"
    NO_CHAT = "no_chat"
    TOO_MANY = "too_many_challenges"
    DEACTIVATED = "deactivated"  # no second factor needed: the login goes on


class PressResult(StrEnum):
    ACCEPTED = "accepted"
    WRONG_NUMBER = "wrong_number"
    REPORTED = "reported"
    LOCKED = "locked"
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    STALE = "stale"  # unknown, forged, not this user's, not this message


@dataclass(frozen=True)
class Opened:
    """The answer to a login system that asked: a challenge, or why not."""

    challenge: Challenge | None = None
    refusal: Refusal | None = None
    retry_after: int | None = None  # TOO_MANY, LOCKED (None: a hard lock)
    deactivated_until: datetime | None = None


@dataclass(frozen=True)
class Reading:
    """What the login system reads of its challenge. ``used``: accepted, but its verdict
    was read before (it is one login, not two)."""

    challenge: Challenge
    status: Status
    used: bool = False


@dataclass(frozen=True)
class Press:
    result: PressResult
    challenge: Challenge | None = None  # as it stands after the press
    locked_until: datetime | None = None  # the wrong number locked the account

    @property
    def decided(self) -> bool:
        return self.result in (
            PressResult.ACCEPTED,
            PressResult.WRONG_NUMBER,
            PressResult.REPORTED,
            PressResult.LOCKED,
        )


@dataclass(frozen=True)
class Outgoing:
    """A challenge whose message is due, the people to send it to, and those who have it."""

    challenge: Challenge
    recipients: list[TelegramUserLink]
    sent_to: frozenset[int]
