"""What the core tests share: the people, a user enrolled through the core, the
deactivation rules as configured for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core import totp
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.deactivation import DeactivationService
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from storage.db import Database

ANN = TelegramIdentity(1001, "ann", "Ann")
AGENT = TelegramIdentity(9001, "agent", "Agnes")
OTHER = TelegramIdentity(9002, "other", "Otto")


@dataclass(frozen=True)
class Enrolled:
    account: str
    who: TelegramIdentity
    secret: str
    device_id: str
    recovery_codes: tuple[str, ...]  # none for a second device


async def enrol(
    enrolment: EnrolmentService,
    clock: FakeClock,
    who: TelegramIdentity | int = ANN,
    *,
    name: str = "Phone",
    proof: str | None = None,
) -> Enrolled:
    """``who`` (a Telegram user id: "user<id>") sets up a device through the core, proving
    with ``proof`` (a current code) when the account has one; then 90 s later, past the
    confirmation code's window."""
    if isinstance(who, int):
        who = TelegramIdentity(who, f"user{who}", f"User {who}")
    started = await enrolment.start(who, who.user_id, proof_code=proof)
    assert isinstance(started, EnrolmentStarted)
    code = totp.code_at_step(started.secret, totp.time_step(clock.now()))
    await enrolment.submit(who.user_id, code)
    await enrolment.submit(who.user_id, name)
    done = await enrolment.complete(who.user_id, started.enrolment.id)
    assert done.device is not None
    clock.advance(seconds=90)
    return Enrolled(f"tg:{who.user_id}", who, started.secret, done.device.id, done.recovery_codes)


def deactivation_service(
    db: Database, clock: FakeClock, support: bool = True
) -> DeactivationService:
    """The deactivation rules with AGENT and OTHER as the configured agents."""
    return DeactivationService(
        db,
        clock,
        support_enabled=support,
        configured_agents=frozenset({AGENT.user_id, OTHER.user_id}),
        default_duration=timedelta(hours=24),
        longest_duration=timedelta(hours=72),
        request_ttl=timedelta(hours=48),
    )
