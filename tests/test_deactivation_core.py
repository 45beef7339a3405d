"""The deactivation rules with a moved clock: window, revocation, atomic decisions, expiry,
and deadlines that survive a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core import totp
from core.accounts import AccountDirectory, TelegramIdentity
from core.clock import FakeClock
from core.crypto import SecretBox
from core.deactivation import (
    DeactivationService,
    DecisionOutcome,
    FileOutcome,
    duration_choices,
    reason_problem,
)
from core.devices import DeviceService
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from core.recovery import RecoveryHasher
from core.verification import Result, VerificationService
from storage.db import Database, open_database
from storage.records import DeactivationRequest, RequestStatus
from tests.core_helpers import AGENT, ANN, OTHER, deactivation_service, enrol


async def filed(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> tuple[DeactivationService, DeactivationRequest]:
    """Ann enrolled, then filed a request: (the service, the open request)."""
    await enrol(enrolment, clock)
    desk = deactivation_service(db, clock)
    request = (await desk.file(ANN, 1001, "lost")).request
    assert request is not None
    return desk, request


def now_code(secret: str, clock: FakeClock) -> str:
    return totp.code_at_step(secret, totp.time_step(clock.now()))


async def test_filing_needs_support_and_2fa_and_one_open_request(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    assert (
        await deactivation_service(db, clock, support=False).file(ANN, 1001, "lost")
    ).outcome is (FileOutcome.NO_SUPPORT)
    desk = deactivation_service(db, clock)
    assert (await desk.file(ANN, 1001, "lost")).outcome is FileOutcome.NOT_ENROLLED
    await enrol(enrolment, clock)
    assert (await desk.file(ANN, 1001, "  ")).outcome is FileOutcome.INVALID_REASON
    filed = await desk.file(ANN, 1001, "lost")
    assert filed.outcome is FileOutcome.FILED and filed.request is not None
    again = await desk.file(ANN, 1001, "really lost")
    assert again.outcome is FileOutcome.ALREADY_OPEN and again.request == filed.request


async def test_approval_opens_a_window_and_revokes_devices(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    desk, verifier = deactivation_service(db, clock), VerificationService(db, box, clock)
    request = (await desk.file(ANN, 1001, "lost")).request
    assert request is not None
    decision = await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=24))
    assert decision.outcome is DecisionOutcome.DECIDED and len(decision.revoked) == 1
    until = clock.now() + timedelta(hours=24)
    verdict = await verifier.verify("tg:1001", now_code(secret, clock), actor="api")
    assert verdict.result is Result.DEACTIVATED and verdict.deactivated_until == until
    clock.advance(hours=24)
    after = await verifier.verify("tg:1001", now_code(secret, clock), actor="api")
    # 2FA is required again, and the lost device is gone: the login is refused.
    assert after.result is Result.ENROLLMENT_REQUIRED


async def test_two_agents_at_once_give_exactly_one_decision(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    desk, request = await filed(db, clock, enrolment)
    decisions = await asyncio.gather(
        desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=24)),
        desk.decide(request.id, OTHER, approve=False, reason="no"),
    )
    outcomes = sorted(d.outcome.value for d in decisions)
    assert outcomes == ["already_decided", "decided"]


async def test_only_agents_decide_and_never_about_themselves(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    desk, request = await filed(db, clock, enrolment)
    stranger = TelegramIdentity(5, None, "Eve")
    assert (await desk.decide(request.id, stranger, approve=False)).outcome is (
        DecisionOutcome.NOT_AGENT
    )
    agent_ann = TelegramIdentity(ANN.user_id, "ann", "Ann")
    desk_with_ann = DeactivationService(
        db,
        clock,
        support_enabled=True,
        configured_agents=frozenset({ANN.user_id}),
        default_duration=timedelta(hours=24),
        longest_duration=timedelta(hours=72),
        request_ttl=timedelta(hours=48),
    )
    assert (await desk_with_ann.decide(request.id, agent_ann, approve=False)).outcome is (
        DecisionOutcome.OWN_ACCOUNT
    )
    too_long = await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=73))
    assert too_long.outcome is DecisionOutcome.INVALID_DURATION


async def test_a_new_device_ends_the_window_early(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    await enrol(enrolment, clock)
    desk, verifier = deactivation_service(db, clock), VerificationService(db, box, clock)
    request = (await desk.file(ANN, 1001, "lost")).request
    assert request is not None
    await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=24))
    new_secret = (await enrol(enrolment, clock)).secret
    verdict = await verifier.verify("tg:1001", now_code(new_secret, clock), actor="api")
    assert verdict.result is Result.ACCEPTED


async def test_deadline_that_passed_while_down_applies_at_start(
    database_url: str, clock: FakeClock, box: SecretBox
) -> None:
    db = await open_database(database_url)
    await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock)
    request = (await deactivation_service(db, clock).file(ANN, 1001, "lost")).request
    assert request is not None
    await db.close()  # the bot stops

    clock.advance(hours=49)  # and comes back two days later
    db = await open_database(database_url)
    desk = deactivation_service(db, clock)
    expired = await desk.expire_due()
    assert [r.id for r in expired] == [request.id]
    assert [r.status for r in await desk.users_to_tell()] == [RequestStatus.EXPIRED]
    late = await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=4))
    assert late.outcome is DecisionOutcome.ALREADY_DECIDED
    await db.close()


async def test_withdraw_only_your_own_open_request(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    desk, request = await filed(db, clock, enrolment)
    assert await desk.withdraw(TelegramIdentity(77, None, "Mallory"), request.id) is None
    withdrawn = await desk.withdraw(ANN, request.id)
    assert withdrawn is not None and withdrawn.status is RequestStatus.WITHDRAWN
    assert await desk.withdraw(ANN, request.id) is None


async def test_every_step_is_audited(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    desk, request = await filed(db, clock, enrolment)
    await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=4))
    actions = [e.action for e in await db.run(lambda tx: tx.audit.entries("tg:1001"))]
    assert actions[-3:] == ["deactivation_requested", "device_revoked", "deactivation_approved"]
    kinds = [e.kind for e in await db.run(lambda tx: tx.alerts.due(clock.now()))]
    assert kinds == ["deactivation_requested", "deactivation_approved"]


def test_reasons_and_durations() -> None:
    assert reason_problem("") == "empty" and reason_problem("x" * 501) == "too_long"
    assert reason_problem("phone lost") == ""
    assert reason_problem("code 7f4a-6e81-0c2d-93be") == "looks_like_recovery_code"
    assert reason_problem("it said 123 456") == "looks_like_code"
    hours = [
        int(d.total_seconds() // 3600)
        for d in duration_choices(timedelta(hours=24), timedelta(hours=72))
    ]
    assert hours == [4, 12, 24, 72]
    assert duration_choices(timedelta(hours=2), timedelta(hours=8)) == [
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=8),
    ]


async def test_a_secret_is_never_kept_as_a_reason(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    desk, request = await filed(db, clock, enrolment)
    refused = await desk.decide(request.id, AGENT, approve=False, reason="try 123456")
    assert refused.outcome is DecisionOutcome.UNSAFE_REASON
    assert (await desk.withdraw(ANN, request.id)) is not None  # still open: nothing decided
    filing = await desk.file(ANN, 1001, "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP")
    assert filing.request is None
    assert filing.outcome is FileOutcome.INVALID_REASON
    assert (await desk.file(ANN, 1001, "lost")).outcome is FileOutcome.FILED


@pytest.mark.parametrize("hours", [0, -1])
async def test_nonpositive_durations_are_refused(
    db: Database, clock: FakeClock, enrolment: EnrolmentService, hours: int
) -> None:
    desk, request = await filed(db, clock, enrolment)
    decision = await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=hours))
    assert decision.outcome is DecisionOutcome.INVALID_DURATION


async def test_a_request_past_its_deadline_cannot_be_approved(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    desk, request = await filed(db, clock, enrolment)
    clock.advance(hours=48)  # before any sweep ran
    late = await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=4))
    assert late.outcome is DecisionOutcome.ALREADY_DECIDED
    assert late.request is not None and late.request.status is RequestStatus.EXPIRED


async def test_approval_voids_the_recovery_codes_and_a_new_device_brings_new_ones(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    started = await enrolment.start(ANN, ANN.user_id)
    assert isinstance(started, EnrolmentStarted)
    code = totp.code_at_step(started.secret, totp.time_step(clock.now()))
    await enrolment.submit(ANN.user_id, code)
    await enrolment.submit(ANN.user_id, "Phone")
    first = await enrolment.complete(ANN.user_id, started.enrolment.id)
    clock.advance(seconds=90)
    desk, verifier = deactivation_service(db, clock), VerificationService(db, box, clock)
    request = (await desk.file(ANN, 1001, "lost")).request
    assert request is not None
    await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=24))
    old = first.recovery_codes[0]
    new_secret = (await enrol(enrolment, clock)).secret
    assert new_secret
    assert (await verifier.verify("tg:1001", old, actor="api")).result is Result.REJECTED
    remaining = await db.run(lambda tx: tx.recovery.remaining("tg:1001"))
    assert remaining == 10  # the new device came with a new set


async def approved_and_ended(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> tuple[str, tuple[str, ...]]:
    """Ann enrolled, support approved a 4 h deactivation and the window ran out (the
    sweep ran): (the lost device's secret, the recovery codes of the first activation)."""
    first = await enrol(enrolment, clock)
    desk = deactivation_service(db, clock)
    request = (await desk.file(ANN, 1001, "lost")).request
    assert request is not None
    await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=4))
    clock.advance(hours=4, seconds=1)
    assert [r.id for r in await desk.end_windows()] == [request.id]
    return first.secret, first.recovery_codes


async def test_after_the_window_every_login_is_refused_until_a_new_device(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    secret, recovery_codes = await approved_and_ended(db, clock, enrolment)
    verifier, accounts = VerificationService(db, box, clock), AccountDirectory(db, clock)
    for code in (now_code(secret, clock), "123456", recovery_codes[0]):
        verdict = await verifier.verify("tg:1001", code, actor="api")
        assert verdict.result is Result.ENROLLMENT_REQUIRED
    state = await accounts.describe("tg:1001")
    assert state.required and not state.enrolled and state.deactivated_until is None
    clock.advance(days=30)  # never turns into password-only logins
    later = await verifier.verify("tg:1001", "123456", actor="api")
    assert later.result is Result.ENROLLMENT_REQUIRED
    assert (await accounts.describe("tg:1001")).required
    failures = await db.run(lambda tx: tx.security.get("tg:1001").consecutive_failures)
    assert failures == 0  # refused, but not counted toward a lock: no code could pass
    again = await deactivation_service(db, clock).file(ANN, 1001, "lost")
    assert again.outcome is FileOutcome.NEEDS_NEW_DEVICE  # nothing for support: /enroll


async def test_the_window_end_is_required_even_before_the_sweep_runs(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    desk, verifier = deactivation_service(db, clock), VerificationService(db, box, clock)
    request = (await desk.file(ANN, 1001, "lost")).request
    assert request is not None
    await desk.decide(request.id, AGENT, approve=True, duration=timedelta(hours=4))
    during = await AccountDirectory(db, clock).describe("tg:1001")
    assert not during.required and during.deactivated_until is not None  # password alone
    clock.advance(hours=4)
    verdict = await verifier.verify("tg:1001", now_code(secret, clock), actor="api")
    assert verdict.result is Result.ENROLLMENT_REQUIRED


async def test_a_new_device_after_the_window_accepts_codes_again(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    await approved_and_ended(db, clock, enrolment)
    new_secret = (await enrol(enrolment, clock)).secret
    verifier = VerificationService(db, box, clock)
    verdict = await verifier.verify("tg:1001", now_code(new_secret, clock), actor="api")
    assert verdict.result is Result.ACCEPTED
    assert (await verifier.verify("tg:1001", "123456", actor="api")).result is Result.REJECTED
    state = await AccountDirectory(db, clock).describe("tg:1001")
    assert state.required and state.enrolled


async def test_only_a_proven_turn_off_makes_an_account_not_enrolled(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    await approved_and_ended(db, clock, enrolment)
    secret = (await enrol(enrolment, clock)).secret  # a new device after the window
    verifier = VerificationService(db, box, clock)
    devices = DeviceService(db, clock, verifier, RecoveryHasher(box))
    _, (device,), _ = await devices.overview(ANN)
    first = await devices.remove(ANN, device.id, proof_code=now_code(secret, clock))
    assert first.needs_confirmation  # a current code, then the second yes
    removed = await devices.remove(ANN, device.id, confirm_last=True)
    assert removed.removed is not None and removed.remaining == 0
    verdict = await verifier.verify("tg:1001", "123456", actor="api")
    assert verdict.result is Result.NOT_ENROLLED
    state = await AccountDirectory(db, clock).describe("tg:1001")
    assert not state.required and not state.enrolled
    actions = [e.action for e in await db.run(lambda tx: tx.audit.entries("tg:1001"))]
    assert actions.count("two_factor_turned_off") == 1


async def test_a_never_enrolled_account_is_not_required(
    db: Database, clock: FakeClock, box: SecretBox
) -> None:
    verdict = await VerificationService(db, box, clock).verify("nobody", "123456", actor="api")
    assert verdict.result is Result.NOT_ENROLLED
    assert not (await AccountDirectory(db, clock).describe("nobody")).required
