"""Approving a login in the chat: every rule of core/challenges.py, on SQLite and
PostgreSQL, with the races (two presses, a press and the expiry, two readers)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from functools import partial

import pytest

from core.accounts import TelegramIdentity
from core.challenges import (
    APPROVE,
    REPORT,
    Challenge,
    ChallengeService,
    InvalidContext,
    PressResult,
    Reason,
    Refusal,
    Status,
    draw_numbers,
    parse_context,
)
from core.clock import FakeClock
from core.crypto import SecretBox
from core.enrolment import EnrolmentService
from core.verification import Result, VerificationService
from storage.db import Database
from storage.records import ChallengeMessage
from storage.repositories import Transaction
from tests.core_helpers import ANN, enrol

BOB = TelegramIdentity(user_id=1002, username="bob", display_name="Bob")
EVE = TelegramIdentity(user_id=1666, username="eve", display_name="Eve")
ACCOUNT = "tg:1001"
VPN = "api:vpn"
WIKI = "api:wiki"


@pytest.fixture
def verifier(db: Database, box: SecretBox, clock: FakeClock) -> VerificationService:
    return VerificationService(db, box, clock)


@pytest.fixture
def challenges(db: Database, clock: FakeClock, verifier: VerificationService) -> ChallengeService:
    return ChallengeService(db, clock, verifier, watch_interval=0.05)


@pytest.fixture
async def enrolled(enrolment: EnrolmentService, clock: FakeClock) -> str:
    return (await enrol(enrolment, clock)).secret


async def shown(db: Database, challenge: Challenge, *people: TelegramIdentity) -> None:
    """As the bot's sender records it: each recipient's message (message id = user id)."""
    for who in people or (ANN,):
        message = ChallengeMessage(challenge.id, who.user_id, who.user_id, "en")
        await db.run(partial(_add_message, message=message))


def _add_message(tx: Transaction, message: ChallengeMessage) -> None:
    tx.challenges.add_message(message)


async def opened(challenges: ChallengeService, actor: str = VPN, **context: str) -> Challenge:
    result = await challenges.open(ACCOUNT, dict(context), actor=actor)
    assert result.challenge is not None, result
    return result.challenge


def wrong_number(challenge: Challenge) -> str:
    return next(c for c in challenge.choices if c != challenge.number)


async def press(
    challenges: ChallengeService, challenge: Challenge, choice: str, who: TelegramIdentity = ANN
) -> PressResult:
    return (await challenges.press(challenge.id, who, choice, who.user_id)).result


# ---------------------------------------------------------------------- creating


def test_three_distinct_two_digit_numbers_one_of_them_right() -> None:
    for _ in range(200):
        right, choices = draw_numbers()
        assert len(set(choices)) == 3 and right in choices
        assert all(len(c) == 2 and c.isdigit() for c in choices)


@pytest.mark.parametrize(
    "context, error",
    [
        ("VPN", "invalid_context"),
        ({"app": 7}, "invalid_context"),
        ({"app": "x" * 101}, "invalid_context"),
        ({"browser": "Firefox"}, "unknown_field"),
        ({"app": "VPN\nClick here"}, "invalid_context"),
        ({"location": "Berlin\u202eED ,"}, "invalid_context"),
    ],
)
def test_bad_context_is_refused(context: object, error: str) -> None:
    with pytest.raises(InvalidContext) as raised:
        parse_context(context)
    assert raised.value.error == error


def test_html_in_the_context_is_kept_as_text_for_the_chat_to_escape() -> None:
    assert parse_context({"app": "<b>VPN</b>", "ip": "203.0.113.7"}) == {
        "app": "<b>VPN</b>",
        "ip": "203.0.113.7",
    }
    assert parse_context({"app": "x" * 100})["app"] == "x" * 100


async def test_a_challenge_is_pending_with_a_number_and_an_expiry(
    challenges: ChallengeService, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges, app="VPN")
    assert challenge.status == Status.PENDING
    assert challenge.number in challenge.choices
    assert challenge.expires_at == clock.now() + timedelta(seconds=60)
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.PENDING


async def test_an_account_without_2fa_is_refused(
    challenges: ChallengeService, db: Database, clock: FakeClock
) -> None:
    assert (await challenges.open("nobody", {}, actor=VPN)).refusal is Refusal.NOT_ENROLLED


async def test_turned_off_is_refused(
    db: Database, clock: FakeClock, verifier: VerificationService, enrolled: str
) -> None:
    off = ChallengeService(db, clock, verifier, enabled=False)
    assert (await off.open(ACCOUNT, {}, actor=VPN)).refusal is Refusal.DISABLED


async def test_nobody_in_telegram_to_ask_is_refused(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    await db.run(
        lambda tx: tx.connection.execute(
            "DELETE FROM telegram_users WHERE account_id = ?", (ACCOUNT,)
        )
    )
    assert (await challenges.open(ACCOUNT, {}, actor=VPN)).refusal is Refusal.NO_CHAT


async def test_a_locked_account_is_refused_with_retry_after(
    challenges: ChallengeService, verifier: VerificationService, enrolled: str, clock: FakeClock
) -> None:
    for _ in range(5):
        await verifier.verify(ACCOUNT, "000000", actor=VPN)
    result = await challenges.open(ACCOUNT, {}, actor=VPN)
    assert result.refusal is Refusal.LOCKED and result.retry_after == 15 * 60


async def test_one_pending_challenge_per_account(
    challenges: ChallengeService, enrolled: str, clock: FakeClock
) -> None:
    await opened(challenges)
    clock.advance(seconds=20)
    second = await challenges.open(ACCOUNT, {}, actor=WIKI)
    assert second.refusal is Refusal.TOO_MANY and second.retry_after == 40
    clock.advance(seconds=41)  # the first expired: a new one may be asked
    assert (await challenges.open(ACCOUNT, {}, actor=WIKI)).challenge is not None


async def test_two_workers_opening_at_once_make_one_challenge(
    challenges: ChallengeService, enrolled: str
) -> None:
    results = await asyncio.gather(*(challenges.open(ACCOUNT, {}, actor=VPN) for _ in range(6)))
    assert sum(r.challenge is not None for r in results) == 1
    assert all(r.refusal is Refusal.TOO_MANY for r in results if r.challenge is None)


async def test_three_declined_or_expired_within_15_minutes_block_for_15_minutes(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    first = await opened(challenges)
    await shown(db, first)
    await challenges.cancel(first.id, actor=VPN)  # cancelled does not count
    for _ in range(2):
        challenge = await opened(challenges)
        clock.advance(seconds=61)  # expired
    challenge = await opened(challenges)
    await shown(db, challenge)
    assert await press(challenges, challenge, wrong_number(challenge)) is PressResult.WRONG_NUMBER
    blocked = await challenges.open(ACCOUNT, {}, actor=VPN)
    assert blocked.refusal is Refusal.TOO_MANY and blocked.retry_after == 15 * 60
    clock.advance(minutes=15)
    assert (await challenges.open(ACCOUNT, {}, actor=VPN)).challenge is not None


async def test_a_deactivated_account_needs_no_challenge(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    until = clock.now() + timedelta(hours=24)
    await db.run(
        lambda tx: tx.connection.execute(
            "UPDATE account_security SET deactivated_until = ? WHERE account_id = ?",
            (int(until.timestamp()), ACCOUNT),
        )
    )
    result = await challenges.open(ACCOUNT, {}, actor=VPN)
    assert result.refusal is Refusal.DEACTIVATED and result.deactivated_until == until


# ---------------------------------------------------------------------- pressing


async def test_the_right_number_accepts_and_the_verdict_is_read_once(
    challenges: ChallengeService, db: Database, enrolled: str
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    assert challenge.number is not None
    assert await press(challenges, challenge, challenge.number) is PressResult.ACCEPTED
    first = await challenges.read(challenge.id, actor=VPN)
    again = await challenges.read(challenge.id, actor=VPN)
    assert first is not None and first.status is Status.ACCEPTED and not first.used
    assert again is not None and again.used  # one login, not two


async def test_the_first_answer_wins_for_all_recipients(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    await db.run(lambda tx: tx.accounts.save_link(BOB.user_id, ACCOUNT, "bob", "Bob", clock.now()))
    challenge = await opened(challenges)
    await shown(db, challenge, ANN, BOB)
    assert challenge.number is not None
    assert await press(challenges, challenge, challenge.number, BOB) is PressResult.ACCEPTED
    assert await press(challenges, challenge, REPORT, ANN) is PressResult.ALREADY_DECIDED
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.ACCEPTED


async def test_a_wrong_number_declines_and_counts_toward_the_lock(
    challenges: ChallengeService,
    verifier: VerificationService,
    db: Database,
    enrolled: str,
    clock: FakeClock,
) -> None:
    for _ in range(4):
        await verifier.verify(ACCOUNT, "000000", actor=VPN)
    challenge = await opened(challenges)
    await shown(db, challenge)
    result = await challenges.press(challenge.id, ANN, wrong_number(challenge), ANN.user_id)
    assert result.result is PressResult.WRONG_NUMBER
    assert result.locked_until == clock.now() + timedelta(minutes=15)  # the fifth failure
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.DECLINED
    assert reading.challenge.reason == Reason.WRONG_NUMBER
    assert (await verifier.verify(ACCOUNT, "000000", actor=VPN)).result is Result.LOCKED


async def test_this_wasnt_me_declines_alerts_and_blocks_for_15_minutes(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges, app="VPN", ip="203.0.113.7", location="Berlin, DE")
    await shown(db, challenge)
    assert await press(challenges, challenge, REPORT) is PressResult.REPORTED
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.DECLINED
    assert reading.challenge.reason == Reason.REPORTED
    alerts = await db.run(lambda tx: tx.alerts.due(clock.now()))
    reported = [a for a in alerts if a.kind == "challenge_reported"]
    assert len(reported) == 1 and reported[0].severity == "warning"
    assert reported[0].account_id == ACCOUNT
    assert reported[0].detail == {
        "client": "vpn",
        "app": "VPN",
        "ip": "203.0.113.7",
        "location": "Berlin, DE",
    }
    blocked = await challenges.open(ACCOUNT, {}, actor=VPN)
    assert blocked.refusal is Refusal.TOO_MANY and blocked.retry_after == 15 * 60
    clock.advance(minutes=15)
    assert (await challenges.open(ACCOUNT, {}, actor=VPN)).challenge is not None


async def test_stale_and_forged_presses_change_nothing(
    challenges: ChallengeService, db: Database, enrolled: str
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    assert challenge.number is not None
    # someone who does not manage the account, with the right data
    assert (
        await challenges.press(challenge.id, EVE, challenge.number, EVE.user_id)
    ).result is PressResult.STALE
    # a choice the message never showed, an unknown challenge, the plain approval's button
    assert await press(challenges, challenge, "00") is PressResult.STALE
    assert await press(challenges, challenge, APPROVE) is PressResult.STALE
    assert (
        await challenges.press("nosuchchallenge", ANN, challenge.number, ANN.user_id)
    ).result is PressResult.STALE
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.PENDING


async def test_a_press_on_a_message_sent_twice_counts_and_shows_the_outcome_on_both(
    challenges: ChallengeService, db: Database, enrolled: str
) -> None:
    """A bot that died between sending and recording: the standby sent it again (recorded
    as message 1001); the press on the first one (777) decides, and both get the outcome."""
    challenge = await opened(challenges)
    await shown(db, challenge)
    assert challenge.number is not None
    pressed = await challenges.press(challenge.id, ANN, challenge.number, 777)
    assert pressed.result is PressResult.ACCEPTED
    ((_, messages),) = await challenges.outcomes_to_show()
    assert sorted(m.message_id for m in messages) == [777, ANN.user_id]


async def test_a_plain_approval_has_approve_and_report_only(
    challenges: ChallengeService, db: Database, enrolled: str
) -> None:
    result = await challenges.open(ACCOUNT, {}, actor=VPN, match_number=False)
    challenge = result.challenge
    assert challenge is not None and challenge.number is None and challenge.choices == ()
    await shown(db, challenge)
    assert await press(challenges, challenge, "47") is PressResult.STALE
    assert await press(challenges, challenge, APPROVE) is PressResult.ACCEPTED


async def test_an_expired_challenge_cannot_be_accepted(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    clock.advance(seconds=60)
    assert challenge.number is not None
    assert await press(challenges, challenge, challenge.number) is PressResult.EXPIRED
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.EXPIRED
    assert reading.challenge.decided_at == challenge.expires_at


async def test_expire_due_expires_once_and_the_outcome_is_to_be_shown(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    clock.advance(seconds=61)
    assert await challenges.expire_due() == 1
    assert await challenges.expire_due() == 0
    outcomes = await challenges.outcomes_to_show()
    assert [(c.id, c.status) for c, _ in outcomes] == [(challenge.id, "expired")]
    await challenges.outcome_shown(challenge.id)
    assert await challenges.outcomes_to_show() == []


async def test_another_clients_challenge_is_unknown(
    challenges: ChallengeService, enrolled: str
) -> None:
    challenge = await opened(challenges)
    assert await challenges.read(challenge.id, actor=WIKI) is None
    assert await challenges.cancel(challenge.id, actor=WIKI) is None
    assert await challenges.read("unknown", actor=VPN) is None


async def test_cancel_ends_a_pending_challenge_and_voids_an_accepted_one(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    cancelled = await challenges.cancel(challenge.id, actor=VPN)
    assert cancelled is not None and cancelled.status is Status.CANCELLED
    assert challenge.number is not None
    assert await press(challenges, challenge, challenge.number) is PressResult.ALREADY_DECIDED
    accepted = await opened(challenges)
    await shown(db, accepted)
    assert accepted.number is not None
    await press(challenges, accepted, accepted.number)
    await challenges.cancel(accepted.id, actor=VPN)
    reading = await challenges.read(accepted.id, actor=VPN)
    assert reading is not None and reading.used


async def test_every_step_is_audited_with_the_client(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges, app="VPN")
    await shown(db, challenge)
    await challenges.sent(challenge)
    assert challenge.number is not None
    await press(challenges, challenge, challenge.number)
    await challenges.read(challenge.id, actor=VPN)
    entries = await db.run(lambda tx: tx.audit.entries(ACCOUNT))
    steps = [
        (e.action, json.loads(e.detail).get("client")) for e in entries if "challenge" in e.action
    ]
    assert steps == [
        ("challenge_created", "vpn"),
        ("challenge_shown", "vpn"),
        ("challenge_accepted", "vpn"),
        ("challenge_used", "vpn"),
    ]


# ---------------------------------------------------------------------- races


async def test_two_presses_at_once_make_one_decision(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    await db.run(lambda tx: tx.accounts.save_link(BOB.user_id, ACCOUNT, "bob", "Bob", clock.now()))
    challenge = await opened(challenges)
    await shown(db, challenge, ANN, BOB)
    assert challenge.number is not None
    results = await asyncio.gather(
        press(challenges, challenge, challenge.number, ANN),
        press(challenges, challenge, REPORT, BOB),
        press(challenges, challenge, wrong_number(challenge), ANN),
    )
    decided = [r for r in results if r is not PressResult.ALREADY_DECIDED]
    assert len(decided) == 1
    entries = await db.run(lambda tx: tx.audit.entries(ACCOUNT))
    decisions = [
        e
        for e in entries
        if e.action in ("challenge_accepted", "challenge_declined", "challenge_reported")
    ]
    assert len(decisions) == 1


async def test_a_press_and_the_expiry_at_once_make_one_outcome(
    challenges: ChallengeService, db: Database, enrolled: str, clock: FakeClock
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    clock.advance(seconds=60)
    assert challenge.number is not None
    pressed, _ = await asyncio.gather(
        press(challenges, challenge, challenge.number), challenges.expire_due()
    )
    assert pressed in (PressResult.EXPIRED, PressResult.ALREADY_DECIDED)
    reading = await challenges.read(challenge.id, actor=VPN)
    assert reading is not None and reading.status is Status.EXPIRED
    entries = await db.run(lambda tx: tx.audit.entries(ACCOUNT))
    assert [e.action for e in entries].count("challenge_expired") == 1


async def test_two_long_polls_of_the_same_challenge_get_one_login(
    database_url: str,
    db: Database,
    clock: FakeClock,
    box: SecretBox,
    challenges: ChallengeService,
    enrolled: str,
) -> None:
    """Two API workers (each its own database connection and watch) wait for the same
    challenge; the press is taken by a third (the bot): one of them gets the login."""
    other_db = await Database.open(database_url)
    try:
        other = ChallengeService(
            other_db, clock, VerificationService(other_db, box, clock), watch_interval=0.05
        )
        bot = ChallengeService(db, clock, VerificationService(db, box, clock))
        challenge = await opened(challenges)
        await shown(db, challenge)
        waits = [
            asyncio.create_task(challenges.wait(challenge.id, actor=VPN, seconds=5)),
            asyncio.create_task(other.wait(challenge.id, actor=VPN, seconds=5)),
        ]
        await asyncio.sleep(0.2)
        assert not any(w.done() for w in waits)
        assert challenge.number is not None
        assert await press(bot, challenge, challenge.number) is PressResult.ACCEPTED
        readings = await asyncio.wait_for(asyncio.gather(*waits), 2)
        assert all(r is not None and r.status is Status.ACCEPTED for r in readings)
        assert sorted(r.used for r in readings if r is not None) == [False, True]
    finally:
        await other_db.close()


async def test_a_long_poll_answers_pending_when_the_wait_runs_out(
    challenges: ChallengeService, enrolled: str
) -> None:
    challenge = await opened(challenges)
    reading = await challenges.wait(challenge.id, actor=VPN, seconds=0.2)
    assert reading is not None and reading.status is Status.PENDING
    assert challenges.watch.waiting == 0


async def test_a_long_poll_answers_at_once_when_pressed_in_this_process(
    challenges: ChallengeService, db: Database, enrolled: str
) -> None:
    challenge = await opened(challenges)
    await shown(db, challenge)
    slow = ChallengeService(
        db, FakeClock(challenge.created_at), challenges._verifier, watch_interval=60
    )
    waiting = asyncio.create_task(slow.wait(challenge.id, actor=VPN, seconds=5))
    await asyncio.sleep(0.1)
    assert challenge.number is not None
    await slow.press(challenge.id, ANN, challenge.number, ANN.user_id)
    reading = await asyncio.wait_for(waiting, 1)  # long before the watch looks (60 s)
    assert reading is not None and reading.status is Status.ACCEPTED


async def test_declines_are_events_for_the_webhooks_in_the_deciding_transaction(
    challenges: ChallengeService, db: Database, box: SecretBox, clock: FakeClock, enrolled: str
) -> None:
    from core.webhooks import WebhookService

    await WebhookService(db, box, clock).add("siem", "https://siem.example.org/hook")
    wrong = await opened(challenges, app="VPN")
    await shown(db, wrong)
    await press(challenges, wrong, wrong_number(wrong))
    clock.advance(minutes=1)
    reported = await opened(challenges, app="VPN")
    await shown(db, reported)
    await press(challenges, reported, REPORT)
    rows = await db.run(
        lambda tx: tx.connection.execute(
            "SELECT type, body FROM webhook_events WHERE account_id = ? ORDER BY seq", (ACCOUNT,)
        ).fetchall()
    )
    bodies = {row[0]: json.loads(row[1])["data"] for row in rows}
    assert bodies["challenge.declined"]["challenge_id"] == wrong.id
    assert bodies["challenge.declined"]["reason"] == "wrong_number"
    assert bodies["challenge.reported"]["challenge_id"] == reported.id
    assert bodies["challenge.reported"]["client"] == "vpn"
    assert bodies["challenge.reported"]["actor"] == {"type": "telegram_user", "id": ANN.user_id}
