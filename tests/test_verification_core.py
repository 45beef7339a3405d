"""verify_code as a login calls it: the window, replay, lockout, escalation, hard stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core import conversation, totp
from core.clock import FakeClock
from core.conversation import Flow, Step
from core.crypto import SecretBox
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from core.verification import (
    NOT_A_CODE,
    Result,
    Verdict,
    VerificationService,
    lock_duration,
    proof_code,
)
from storage.db import Database
from storage.records import AccountSecurity
from tests.core_helpers import ANN, enrol

ACCOUNT = "tg:1001"


@pytest.fixture
def verifier(db: Database, box: SecretBox, clock: FakeClock) -> VerificationService:
    return VerificationService(db, box, clock)


def code(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return totp.code_at_step(secret, totp.time_step(clock.now()) + steps)


def wrong(secret: str, clock: FakeClock) -> str:
    valid = {code(secret, clock, s) for s in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_a_proof_is_a_code_or_a_recovery_code_as_typed() -> None:
    assert proof_code(" 123 456 ") == "123456"
    assert proof_code("123-456") == "123456"
    assert proof_code(" abcd-ef01-2345-6789 ") == "abcd-ef01-2345-6789"
    assert proof_code("12345") is None
    assert proof_code("my phone") is None
    assert proof_code("") is None


async def test_a_proof_counts_toward_the_lock_and_a_lock_ends_the_flows_wait(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock, db: Database
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    now = clock.now()

    async def prove(text: str) -> Verdict:
        return await db.run(
            lambda tx: verifier.check_proof_in(tx, ANN, ACCOUNT, text, Flow.RENAME, now)
        )

    await db.run(lambda tx: conversation.claim(tx, ANN.user_id, 1, Flow.RENAME, Step.PROOF, now))
    assert await prove("my phone") == NOT_A_CODE
    state = await db.run(lambda tx: tx.security.get(ACCOUNT))
    assert state.consecutive_failures == 0  # no code: not counted
    for _ in range(4):
        assert (await prove(wrong(secret, clock))).result is Result.REJECTED
    assert await db.run(lambda tx: tx.conversations.get(ANN.user_id)) is not None
    assert (await prove(wrong(secret, clock))).result is Result.LOCKED
    assert await db.run(lambda tx: tx.conversations.get(ANN.user_id)) is None


async def test_check_waits_after_a_wrong_code_and_ends_with_a_right_one(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock, db: Database
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    now = clock.now()
    await db.run(lambda tx: conversation.claim(tx, ANN.user_id, 1, Flow.CHECK, Step.CODE, now))
    account, refused = await verifier.verify_for(ANN, wrong(secret, clock))
    assert account == ACCOUNT and refused.result is Result.REJECTED
    assert await db.run(lambda tx: tx.conversations.get(ANN.user_id)) is not None
    _, accepted = await verifier.verify_for(ANN, code(secret, clock))
    assert accepted.result is Result.ACCEPTED
    assert await db.run(lambda tx: tx.conversations.get(ANN.user_id)) is None


async def test_unknown_account_is_not_enrolled(verifier: VerificationService) -> None:
    verdict = await verifier.verify("nobody@example.com", "123456", actor="api")
    assert verdict.result is Result.NOT_ENROLLED


@pytest.mark.parametrize(
    ("steps", "result"),
    [
        (-2, Result.REJECTED),
        (-1, Result.ACCEPTED),
        (0, Result.ACCEPTED),
        (1, Result.ACCEPTED),
        (2, Result.REJECTED),
    ],
)
async def test_window_edges(
    enrolment: EnrolmentService,
    verifier: VerificationService,
    clock: FakeClock,
    steps: int,
    result: Result,
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    verdict = await verifier.verify(ACCOUNT, code(secret, clock, steps), actor="api")
    assert verdict.result is result
    if result is Result.ACCEPTED:
        assert verdict.method == "totp" and verdict.device is not None
        assert verdict.device.name == "Phone"


async def test_replayed_code_is_rejected(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    current = code(secret, clock)
    assert (await verifier.verify(ACCOUNT, current, actor="api")).result is Result.ACCEPTED
    assert (await verifier.verify(ACCOUNT, current, actor="api")).result is Result.REJECTED


async def test_older_code_after_a_newer_one_is_rejected(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    newer, older = code(secret, clock, 1), code(secret, clock, 0)
    assert (await verifier.verify(ACCOUNT, newer, actor="api")).result is Result.ACCEPTED
    assert (await verifier.verify(ACCOUNT, older, actor="api")).result is Result.REJECTED
    clock.advance(seconds=60)
    assert (await verifier.verify(ACCOUNT, code(secret, clock), actor="api")).result is (
        Result.ACCEPTED
    )


async def test_enrolment_confirmation_code_cannot_log_in(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, ANN.user_id)
    assert isinstance(started, EnrolmentStarted)
    confirmation = code(started.secret, clock)
    await enrolment.submit(ANN.user_id, confirmation)
    await enrolment.submit(ANN.user_id, "Phone")
    await enrolment.complete(ANN.user_id, started.enrolment.id)
    assert (await verifier.verify(ACCOUNT, confirmation, actor="api")).result is Result.REJECTED


async def test_concurrent_checks_of_one_code_accept_exactly_once(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    current = code(secret, clock)
    verdicts = await asyncio.gather(
        *(verifier.verify(ACCOUNT, current, actor="api") for _ in range(20))
    )
    assert [v.result for v in verdicts].count(Result.ACCEPTED) == 1


async def test_any_active_device_works(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    first = (await enrol(enrolment, clock, name="Phone")).secret
    second = (await enrol(enrolment, clock, name="Tablet", proof=code(first, clock))).secret
    verdict = await verifier.verify(ACCOUNT, code(second, clock), actor="api")
    assert verdict.result is Result.ACCEPTED and verdict.device is not None
    assert verdict.device.name == "Tablet"
    verdict = await verifier.verify(ACCOUNT, code(first, clock), actor="api")
    assert verdict.device is not None and verdict.device.name == "Phone"


async def test_five_failures_lock_for_15_minutes_and_a_right_code_is_refused(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock, db: Database
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    bad = wrong(secret, clock)
    tries = [(await verifier.verify(ACCOUNT, bad, actor="api")) for _ in range(4)]
    assert [v.tries_left for v in tries] == [4, 3, 2, 1]
    locked = await verifier.verify(ACCOUNT, bad, actor="api")
    assert locked.result is Result.LOCKED
    assert locked.locked_until == clock.now() + timedelta(minutes=15)
    assert locked.retry_after(clock.now()) == 900
    right = await verifier.verify(ACCOUNT, code(secret, clock), actor="api")
    assert right.result is Result.LOCKED and right.locked_until == locked.locked_until
    alerts = await db.run(lambda tx: tx.alerts.due(clock.now()))
    assert [e.kind for e in alerts] == ["account_locked"]


async def test_lock_ends_when_the_time_passes(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    for _ in range(5):
        await verifier.verify(ACCOUNT, wrong(secret, clock), actor="api")
    clock.advance(minutes=14, seconds=59)
    assert (await verifier.verify(ACCOUNT, code(secret, clock), actor="api")).result is (
        Result.LOCKED
    )
    clock.advance(seconds=1)
    assert (await verifier.verify(ACCOUNT, code(secret, clock), actor="api")).result is (
        Result.ACCEPTED
    )
    # A success resets the count: four more failures do not lock.
    for _ in range(4):
        verdict = await verifier.verify(ACCOUNT, wrong(secret, clock), actor="api")
    assert verdict.result is Result.REJECTED


async def test_each_further_lock_doubles_up_to_24_hours(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    assert [lock_duration(n) for n in (1, 2, 3, 7, 8, 19)] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=16),
        timedelta(hours=24),
        timedelta(hours=24),
    ]
    secret = (await enrol(enrolment, clock)).secret
    durations = []
    for _ in range(3):
        for _ in range(5):
            verdict = await verifier.verify(ACCOUNT, wrong(secret, clock), actor="api")
        assert verdict.locked_until is not None
        durations.append(verdict.locked_until - clock.now())
        clock.set(verdict.locked_until)
    assert durations == [timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1)]


async def test_100_consecutive_failures_stop_checks_until_support_clears(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock, db: Database
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    verdict = None
    for _ in range(100):
        verdict = await verifier.verify(ACCOUNT, wrong(secret, clock), actor="api")
        if verdict.locked_until is not None:
            clock.set(verdict.locked_until)
    assert verdict is not None and verdict.result is Result.LOCKED and verdict.hard_locked
    clock.advance(hours=48)
    after = await verifier.verify(ACCOUNT, code(secret, clock), actor="api")
    assert after.result is Result.LOCKED and after.hard_locked
    assert after.retry_after(clock.now()) is None
    kinds = [e.kind for e in await db.run(lambda tx: tx.alerts.due(clock.now(), 200))]
    assert kinds.count("account_locked") == 19 and kinds[-1] == "account_hard_locked"


async def test_deactivation_window_answers_deactivated(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock, db: Database
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    until = clock.now() + timedelta(hours=24)
    await db.run(
        lambda tx: tx.security.save(AccountSecurity(ACCOUNT, deactivated_until=until), clock.now())
    )
    verdict = await verifier.verify(ACCOUNT, code(secret, clock), actor="api")
    assert verdict.result is Result.DEACTIVATED and verdict.deactivated_until == until
    clock.advance(hours=24)
    assert (await verifier.verify(ACCOUNT, code(secret, clock), actor="api")).result is (
        Result.ACCEPTED
    )


async def test_every_check_is_audited_without_the_code(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock, db: Database
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    right, bad = code(secret, clock), wrong(secret, clock)
    await verifier.verify(ACCOUNT, bad, actor="api")
    await verifier.verify(ACCOUNT, right, actor="api")
    entries = [
        e for e in await db.run(lambda tx: tx.audit.entries(ACCOUNT)) if e.action == "code_checked"
    ]
    assert [e.actor for e in entries] == ["api", "api"]
    assert ['"rejected"' in e.detail for e in entries] == [True, False]
    assert all(right not in e.detail and bad not in e.detail for e in entries)


async def test_last_used_time_is_recorded(
    enrolment: EnrolmentService, verifier: VerificationService, clock: FakeClock
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    await verifier.verify(ACCOUNT, code(secret, clock), actor="api")
    (device,) = (await enrolment.status(ANN)).devices
    assert device.last_used_at == clock.now().replace(microsecond=0)
