"""Messages that show a secret get their clean-up row before they are sent, under the id
they will most likely get; the row follows the real id once it is known."""

from __future__ import annotations

from datetime import timedelta

from core.accounts import TelegramIdentity
from core.cleanup import ChatCleanup
from core.clock import FakeClock
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from storage.db import Database

ANN = TelegramIdentity(1001, "ann", "Ann")
CHAT = 1001


async def due_ids(db: Database, clock: FakeClock, within: timedelta = timedelta(0)) -> list[int]:
    due = await db.run(lambda tx: tx.cleanup.due(clock.now() + within + timedelta(seconds=1)))
    return sorted(item.message_id for item in due)


async def test_a_key_sent_but_never_recorded_is_deleted_when_the_set_up_ends(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT, after_message_id=41)
    assert isinstance(started, EnrolmentStarted)
    await enrolment.record_message(started.enrolment.id, CHAT, "qr", 42)
    key = await enrolment.manual_key(CHAT, started.enrolment.id, expected_message_id=43)
    assert key == started.secret
    await enrolment.cancel(ANN.user_id)
    assert await due_ids(db, clock) == [42, 43]


async def test_a_recorded_key_replaces_the_guess_and_a_second_guess_deletes_the_first(
    enrolment: EnrolmentService, db: Database, clock: FakeClock
) -> None:
    started = await enrolment.start(ANN, CHAT, after_message_id=41)
    assert isinstance(started, EnrolmentStarted)
    ref = started.enrolment.id
    await enrolment.record_message(ref, CHAT, "qr", 42)
    await enrolment.manual_key(CHAT, ref, expected_message_id=43)  # its answer never came
    assert await due_ids(db, clock) == []
    await enrolment.manual_key(CHAT, ref, expected_message_id=45)  # shown again
    assert await due_ids(db, clock) == [43]  # the first one goes now
    await enrolment.record_message(ref, CHAT, "key", 46)
    await enrolment.cancel(ANN.user_id)
    assert await due_ids(db, clock) == [42, 43, 46]


async def test_a_row_written_before_the_send_follows_the_real_id(
    db: Database, clock: FakeClock
) -> None:
    cleanup = ChatCleanup(db, clock)
    later = timedelta(minutes=15)
    await cleanup.schedule(CHAT, [8], after=later)
    await cleanup.correct(CHAT, 8, 9, after=later)
    assert await due_ids(db, clock) == []
    assert await due_ids(db, clock, later) == [9]
    await cleanup.schedule(CHAT, [10], after=later)
    await cleanup.correct(CHAT, 10, 10, after=later)  # the guess was right
    await cleanup.schedule(CHAT, [12], after=later)
    await cleanup.withdraw(CHAT, 12)  # Telegram refused the send
    assert await due_ids(db, clock, later) == [9, 10]
