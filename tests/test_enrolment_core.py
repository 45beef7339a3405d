"""The enrolment core, called directly with a moved clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core import totp
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.conversation import Step
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted, Outcome, ProofNeeded
from storage.db import Database
from storage.records import EnrolmentStage

ANN = TelegramIdentity(user_id=1001, username="ann", display_name="Ann Example")
CHAT = 1001


def code_now(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return totp.code_at_step(secret, totp.time_step(clock.now()) + steps)


async def test_start_creates_a_pending_enrolment_for_the_default_account(
    enrolment: EnrolmentService,
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    assert not started.resumed
    assert started.enrolment.account_id == "tg:1001"
    assert started.enrolment.stage is EnrolmentStage.AWAITING_CODE
    assert started.uri.startswith("otpauth://totp/2FA%20Desk:tg%3A1001?secret=")
    assert started.secret in started.uri


async def test_starting_again_resumes_with_the_same_secret(enrolment: EnrolmentService) -> None:
    first = await enrolment.start(ANN, CHAT)
    assert isinstance(first, EnrolmentStarted)
    second = await enrolment.start(ANN, CHAT)
    assert isinstance(second, EnrolmentStarted)
    assert second.resumed
    assert second.secret == first.secret
    assert second.enrolment.id == first.enrolment.id


async def test_full_enrolment_activates_a_device(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    code = await enrolment.submit(ANN.user_id, code_now(started.secret, clock), 77)
    assert code.outcome is Outcome.ACCEPTED
    named = await enrolment.submit(ANN.user_id, "  Philipp iPhone ")
    assert named.outcome is Outcome.ACCEPTED
    assert named.enrolment is not None and named.enrolment.device_name == "Philipp iPhone"
    done = await enrolment.complete(ANN.user_id, started.enrolment.id)
    assert done.outcome is Outcome.ACCEPTED
    assert done.device is not None and done.device.name == "Philipp iPhone"
    assert done.device_count == 1
    status = await enrolment.status(ANN)
    assert [d.name for d in status.devices] == ["Philipp iPhone"]
    assert status.pending is None
    actions = [e.action for e in await db.run(lambda tx: tx.audit.entries("tg:1001"))]
    due = await db.run(lambda tx: tx.cleanup.due(clock.now()))
    assert actions == [
        "account_linked",
        "enrolment_started",
        "enrolment_code_confirmed",
        "device_activated",
        "two_factor_turned_on",
        "recovery_codes_issued",
    ]
    assert [item.message_id for item in due] == [77]  # the code message leaves the chat


async def test_code_from_the_previous_and_next_step_is_accepted(
    enrolment: EnrolmentService, clock: FakeClock
) -> None:
    for steps in (-1, 1):
        started = await enrolment.start(ANN, CHAT)
        assert isinstance(started, EnrolmentStarted)
        result = await enrolment.submit(ANN.user_id, code_now(started.secret, clock, steps))
        assert result.outcome is Outcome.ACCEPTED
        await enrolment.cancel(ANN.user_id)


async def test_code_two_steps_away_is_wrong(enrolment: EnrolmentService, clock: FakeClock) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    result = await enrolment.submit(ANN.user_id, code_now(started.secret, clock, -2))
    assert result.outcome is Outcome.WRONG_CODE
    assert result.attempts_left == 4


async def test_five_wrong_codes_end_the_enrolment(
    enrolment: EnrolmentService, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    wrong = "000000" if code_now(started.secret, clock) != "000000" else "111111"
    lefts = []
    for _ in range(4):
        result = await enrolment.submit(ANN.user_id, wrong)
        lefts.append(result.attempts_left)
    assert lefts == [4, 3, 2, 1]
    last = await enrolment.submit(ANN.user_id, wrong)
    assert last.outcome is Outcome.EXHAUSTED
    assert (await enrolment.pending(ANN.user_id)).outcome is Outcome.NO_ENROLMENT
    # Even the right code now finds nothing to confirm.
    late = await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
    assert late.outcome is Outcome.NO_ENROLMENT


async def test_bad_input_changes_nothing(enrolment: EnrolmentService) -> None:
    await enrolment.start(ANN, CHAT)
    for text in ("12345", "1234567", "hello", "🙂", "x" * 5000):
        result = await enrolment.submit(ANN.user_id, text)
        assert result.outcome is Outcome.NOT_A_CODE
    pending = await enrolment.pending(ANN.user_id)
    assert pending.enrolment is not None
    assert pending.enrolment.attempts_left == 5
    assert pending.enrolment.stage is EnrolmentStage.AWAITING_CODE


async def test_invalid_device_names_are_refused(
    enrolment: EnrolmentService, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
    cases = {
        "": "empty",
        "   ": "empty",
        "x" * 41: "too_long",
        "two\nlines": "control",
        "bell\x07": "control",
    }
    for name, problem in cases.items():
        result = await enrolment.submit(ANN.user_id, name)
        assert (result.outcome, result.problem) == (Outcome.INVALID_NAME, problem)
    assert (await enrolment.submit(ANN.user_id, "123 456")).outcome is Outcome.LOOKS_LIKE_CODE
    assert (await enrolment.submit(ANN.user_id, "x" * 40)).outcome is Outcome.ACCEPTED


async def test_enrolment_expires_after_ten_minutes(
    enrolment: EnrolmentService, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    clock.advance(minutes=9, seconds=59)
    assert (await enrolment.pending(ANN.user_id)).outcome is Outcome.ACCEPTED
    clock.advance(seconds=1)
    result = await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
    assert result.outcome is Outcome.EXPIRED
    assert (await enrolment.pending(ANN.user_id)).outcome is Outcome.NO_ENROLMENT


async def test_expire_due_ends_what_ran_out_while_down(
    enrolment: EnrolmentService, clock: FakeClock, db: Database
) -> None:
    await enrolment.start(ANN, CHAT)
    other = TelegramIdentity(2002, None, "Bo")
    clock.advance(minutes=5)
    await enrolment.start(other, 2002)
    clock.advance(minutes=6)
    ended = await enrolment.expire_due()
    assert [e.telegram_user_id for e in ended] == [ANN.user_id]
    assert (await enrolment.pending(other.user_id)).outcome is Outcome.ACCEPTED
    actions = [e.action for e in await db.run(lambda tx: tx.audit.entries("tg:1001"))]
    assert actions[-1] == "enrolment_expired"


async def test_complete_needs_the_live_enrolment_and_the_right_step(
    enrolment: EnrolmentService, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    assert (await enrolment.complete(ANN.user_id, started.enrolment.id)).outcome is (
        Outcome.WRONG_STEP
    )
    await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
    await enrolment.submit(ANN.user_id, "Phone")
    assert (await enrolment.complete(ANN.user_id, "f" * 32)).outcome is Outcome.NO_ENROLMENT
    assert (await enrolment.complete(9999, started.enrolment.id)).outcome is Outcome.NO_ENROLMENT
    assert (await enrolment.complete(ANN.user_id, started.enrolment.id)).outcome is (
        Outcome.ACCEPTED
    )
    # Pressing twice activates once.
    again = await enrolment.complete(ANN.user_id, started.enrolment.id)
    assert again.outcome is Outcome.NO_ENROLMENT
    assert len((await enrolment.status(ANN)).devices) == 1


async def test_second_device_joins_the_first(enrolment: EnrolmentService, clock: FakeClock) -> None:
    first_secret = None
    for name in ("Phone", "Tablet"):
        proof = None if first_secret is None else code_now(first_secret, clock)
        started = await enrolment.start(ANN, CHAT, proof_code=proof)
        assert isinstance(started, EnrolmentStarted)
        first_secret = first_secret or started.secret
        await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
        await enrolment.submit(ANN.user_id, name)
        done = await enrolment.complete(ANN.user_id, started.enrolment.id)
        clock.advance(minutes=1)
    assert done.device_count == 2
    assert [d.name for d in (await enrolment.status(ANN)).devices] == ["Phone", "Tablet"]


async def test_another_device_needs_a_current_code_first(
    enrolment: EnrolmentService, clock: FakeClock, db: Database
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
    await enrolment.submit(ANN.user_id, "Phone")
    await enrolment.complete(ANN.user_id, started.enrolment.id)
    clock.advance(minutes=1)
    needed = await enrolment.start(ANN, CHAT)
    assert isinstance(needed, ProofNeeded) and needed.verdict is None
    wrong = "000000" if code_now(started.secret, clock) != "000000" else "111111"
    refused = await enrolment.start(ANN, CHAT, proof_code=wrong)
    assert isinstance(refused, ProofNeeded) and refused.verdict is not None
    assert refused.verdict.tries_left == 4  # it counts, as a login would
    again = await enrolment.start(ANN, CHAT, proof_code=code_now(started.secret, clock))
    assert isinstance(again, EnrolmentStarted)
    kinds = [e.kind for e in await db.run(lambda tx: tx.alerts.due(clock.now()))]
    assert "device_added" not in kinds  # only once the second device is active


async def test_confirmation_code_is_spent_for_later_logins(
    enrolment: EnrolmentService, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.submit(ANN.user_id, code_now(started.secret, clock))
    await enrolment.submit(ANN.user_id, "Phone")
    done = await enrolment.complete(ANN.user_id, started.enrolment.id)
    assert done.device is not None
    assert done.device.last_used_step == totp.time_step(clock.now())


async def test_database_file_never_holds_a_secret_in_the_clear(
    enrolment: EnrolmentService, clock: FakeClock, stored_bytes: Callable[[], bytes]
) -> None:
    secrets = []
    for user_id in range(1, 6):
        who = TelegramIdentity(user_id, None, "U")
        started = await enrolment.start(who, user_id)
        assert isinstance(started, EnrolmentStarted)
        secrets.append(started.secret)
        if user_id % 2:
            await enrolment.submit(user_id, code_now(started.secret, clock))
            await enrolment.submit(user_id, "Phone")
            await enrolment.complete(user_id, started.enrolment.id)
    blob = stored_bytes()
    for secret in secrets:
        assert secret.encode() not in blob
        assert secret.lower().encode() not in blob
        assert totp.grouped_key(secret).encode() not in blob


async def test_cancel_ends_and_audits(enrolment: EnrolmentService, db: Database) -> None:
    assert await enrolment.cancel(ANN.user_id) is None
    await enrolment.start(ANN, CHAT)
    ended = await enrolment.cancel(ANN.user_id)
    assert ended is not None
    entries = await db.run(lambda tx: tx.audit.entries("tg:1001"))
    assert entries[-1].action == "enrolment_cancelled"


async def test_messages_recorded_after_the_end_are_cleaned_up(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.record_message(started.enrolment.id, CHAT, "qr", 10)
    await enrolment.record_message(started.enrolment.id, CHAT, "qr", 11)  # resent QR
    await enrolment.cancel(ANN.user_id)
    await enrolment.record_message(started.enrolment.id, CHAT, "key", 12)  # too late
    due = await db.run(lambda tx: tx.cleanup.due(clock.now() + timedelta(seconds=1)))
    assert sorted(item.message_id for item in due) == [10, 11, 12]


async def test_a_qr_sent_but_never_recorded_is_still_deleted_when_the_set_up_ends(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    """The process died after Telegram took the QR photo and before its id was stored: the
    id it most likely got (the asking message's, plus one) is deleted with the rest."""
    who = TelegramIdentity(1001, "ann", "Ann")
    started = await enrolment.start(who, 1001, after_message_id=41)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.cancel(1001)
    due = await db.run(lambda tx: tx.cleanup.due(clock.now() + timedelta(seconds=1)))
    assert [(item.chat_id, item.message_id) for item in due] == [(1001, 42)]


async def test_a_recorded_qr_replaces_the_guess_of_its_id(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    who = TelegramIdentity(1001, "ann", "Ann")
    started = await enrolment.start(who, 1001, after_message_id=41)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.record_message(started.enrolment.id, 1001, "qr", 43)
    await enrolment.cancel(1001)
    due = await db.run(lambda tx: tx.cleanup.due(clock.now() + timedelta(seconds=1)))
    assert [item.message_id for item in due] == [43]


async def test_the_enrolment_waits_where_the_users_slot_says(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    """One state: each step takes its own input only, and moves the slot on with it."""

    async def slot_step() -> str | None:
        slot = await db.run(lambda tx: tx.conversations.get(ANN.user_id))
        return None if slot is None else slot.step

    started = await enrolment.start(ANN, CHAT)
    assert isinstance(started, EnrolmentStarted)
    code = code_now(started.secret, clock)
    assert (await enrolment.submit_name(ANN.user_id, "Phone")).outcome is Outcome.WRONG_STEP
    done = await enrolment.complete(ANN.user_id, started.enrolment.id)
    assert done.outcome is Outcome.WRONG_STEP
    assert await slot_step() == Step.CODE
    assert (await enrolment.submit_code(ANN.user_id, code)).step is Step.NAME
    assert await slot_step() == Step.NAME
    assert (await enrolment.submit_code(ANN.user_id, code)).outcome is Outcome.WRONG_STEP
    resumed = await enrolment.start(ANN, CHAT)
    assert isinstance(resumed, EnrolmentStarted) and resumed.step is Step.NAME
    assert (await enrolment.submit_name(ANN.user_id, "Phone")).step is Step.CONFIRM
    renamed = await enrolment.submit_name(ANN.user_id, "Tablet")  # at the summary
    assert renamed.enrolment is not None and renamed.enrolment.device_name == "Tablet"
    assert (await enrolment.complete(ANN.user_id, started.enrolment.id)).device is not None
    assert await slot_step() is None
