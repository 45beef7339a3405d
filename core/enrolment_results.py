"""What an enrolment step answers: the outcomes the chat renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.conversation import Step
from core.verification import Verdict
from storage.records import Device, PendingEnrolment


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # the step's input was taken; the enrolment moved on
    WRONG_CODE = "wrong_code"  # a code, but not the app's; tries left
    EXHAUSTED = "exhausted"  # the last try was wrong; the enrolment ended
    NOT_A_CODE = "not_a_code"  # no change
    NOT_TEXT = "not_text"  # a sticker, a photo: no change
    INVALID_NAME = "invalid_name"  # no change
    LOOKS_LIKE_CODE = "looks_like_code"  # a code where a name was expected; no change
    WRONG_STEP = "wrong_step"  # the enrolment is at another step; no change
    EXPIRED = "expired"  # it had run out; it is now ended
    NO_ENROLMENT = "no_enrolment"  # nothing pending (or a stale button)


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    enrolment: PendingEnrolment | None = None
    attempts_left: int = 0
    digit_count: int = 0
    problem: str = ""  # why a name was refused: "empty", "too_long", "control"
    step: Step | None = None  # the step the enrolment waits at now (None: it ended)


@dataclass(frozen=True)
class EnrolmentStarted:
    enrolment: PendingEnrolment
    secret: str
    uri: str
    resumed: bool
    step: Step = Step.CODE  # where a resumed enrolment waits (the user's slot says)


@dataclass(frozen=True)
class ProofNeeded:
    """The account already has devices: adding one needs a current code (or a recovery
    code) first, so that an open chat on a stolen phone cannot add the thief's device."""

    account_id: str
    verdict: Verdict | None = None  # the refused proof, when one was given


@dataclass(frozen=True)
class Activation:
    outcome: Outcome
    device: Device | None = None
    device_count: int = 0
    enrolment: PendingEnrolment | None = None
    recovery_codes: tuple[str, ...] = ()  # handed out once, at the first activation


@dataclass(frozen=True)
class AccountStatus:
    account_id: str
    devices: list[Device]
    pending: PendingEnrolment | None
    deactivated_until: datetime | None = None  # an approved deactivation still running
    two_factor_on: bool = False  # from the first activation until a proven turn-off

    @property
    def needs_new_device(self) -> bool:
        """2FA is on but no device can answer: logins are refused (once a deactivation
        window ends) until a new device is set up."""
        return self.two_factor_on and not self.devices
