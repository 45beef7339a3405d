"""/check and enrolment links through PTB's Application: what the user sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from core.clock import FakeClock
from core.config import Settings
from storage.records import AccountSecurity
from tests.harness import ChatUser, Harness, running_bot
from tests.helpers import decode_qr, parse_key_uri, shown_time
from tests.test_handlers_enrolment import at_summary, code_for, scan_qr


@pytest.fixture
async def bot(settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with running_bot(settings, clock) as harness:
        yield harness


async def enrolled(bot: Harness, user: ChatUser) -> str:
    photo, summary = await at_summary(user, "Phone")
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    await user.press(summary, "Complete activation")
    bot.clock.advance(seconds=90)  # past the confirmation code's window
    return secret


def wrong(bot: Harness, secret: str) -> str:
    valid = {code_for(bot, secret, s) for s in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


async def test_check_accepts_the_current_code_and_removes_it(bot: Harness) -> None:
    user = bot.user()
    secret = await enrolled(bot, user)
    (ask,) = await user.send("/check")
    assert "6-digit code" in ask.shown_text
    code = code_for(bot, secret)
    (answer,) = await user.send(code)
    assert "Code accepted" in answer.shown_text and "Phone" in answer.shown_text
    typed = [m for m in bot.state.user_messages(user.chat_id) if m.text == code]
    assert typed and typed[-1].deleted
    (again,) = await user.send(code)  # the prompt is over: not a check any more
    assert "not sure what you mean" in again.shown_text


async def test_check_with_the_code_inline(bot: Harness) -> None:
    user = bot.user()
    secret = await enrolled(bot, user)
    code = code_for(bot, secret)
    (answer,) = await user.send(f"/check {code[:3]} {code[3:]}")
    assert "Code accepted" in answer.shown_text
    (replay,) = await user.send(f"/check {code}")
    assert "not right" in replay.shown_text and "already used" in replay.shown_text


async def test_the_code_inline_ends_a_check_that_waited_for_it(bot: Harness) -> None:
    user = bot.user()
    secret = await enrolled(bot, user)
    await user.send("/check")
    bad = wrong(bot, secret)
    (refused,) = await user.send(f"/check {bad}")
    assert "not right" in refused.shown_text
    (still,) = await user.send("what?")  # a wrong code: the check still waits
    assert "6-digit code" in still.shown_text
    (answer,) = await user.send(f"/check {code_for(bot, secret)}")
    assert "Code accepted" in answer.shown_text
    (after,) = await user.send("what?")
    assert "not sure what you mean" in after.shown_text


async def test_wrong_code_says_tries_left_then_locks(bot: Harness) -> None:
    user = bot.user()
    secret = await enrolled(bot, user)
    await user.send("/check")
    bad = wrong(bot, secret)
    answers = [(await user.send(bad))[0].shown_text for _ in range(4)]
    assert "4 tries left" in answers[0] and "1 try left" in answers[3]
    (locked,) = await user.send(bad)
    until = shown_time(bot.clock.now() + timedelta(minutes=15))
    assert "Locked" in locked.shown_text and until in locked.shown_text
    assert f"{until} (in 15 minutes)" in locked.shown_text
    (still,) = await user.send(f"/check {code_for(bot, secret)}")
    assert "Locked" in still.shown_text and "even with a correct code" in still.shown_text


async def test_check_without_2fa_says_not_set_up(bot: Harness) -> None:
    user = bot.user()
    (answer,) = await user.send("/check 123456")
    assert "No 2FA is set up" in answer.shown_text and "/enroll" in answer.shown_text


async def test_check_during_a_deactivation(bot: Harness) -> None:
    user = bot.user()
    secret = await enrolled(bot, user)
    until = bot.clock.now() + timedelta(hours=24)
    db = bot.app.bot_data["services"].db
    await db.run(
        lambda tx: tx.security.save(
            AccountSecurity("tg:1001", deactivated_until=until), bot.clock.now()
        )
    )
    (answer,) = await user.send(f"/check {code_for(bot, secret)}")
    assert "temporarily off" in answer.shown_text and "password alone" in answer.shown_text


async def test_check_prompt_explains_bad_input_and_cancel_stops_it(bot: Harness) -> None:
    user = bot.user()
    await enrolled(bot, user)
    await user.send("/check")
    (sticker,) = await user.send_sticker()
    assert "6-digit code" in sticker.shown_text
    (text,) = await user.send("what?")
    assert "6-digit code" in text.shown_text
    (stopped,) = await user.send("/cancel")
    assert stopped.text == "Stopped checking a code. Nothing was changed."
    (after,) = await user.send("123456")
    assert "not sure what you mean" in after.shown_text


async def test_check_during_enrolment_says_what_waits_and_offers_to_drop_it(bot: Harness) -> None:
    user = bot.user()
    await scan_qr(user)
    (answer,) = await user.send("/check")
    assert answer.text == (
        "You are setting up a new device: send the 6-digit code your app shows, or /cancel."
    )
    assert [label for label, _ in answer.buttons] == ["Continue", "Drop it, start the new one"]


async def test_check_prompt_survives_a_restart(settings: Settings, clock: FakeClock) -> None:
    async with running_bot(settings, clock) as first:
        user = first.user()
        secret = await enrolled(first, user)
        await user.send("/check")
    async with running_bot(settings, clock) as second:
        user = second.user()
        (answer,) = await user.send(code_for(second, secret))
        assert "Code accepted" in answer.shown_text


async def mint(bot: Harness, account: str) -> str:
    link = await bot.app.bot_data["services"].links.mint(account)
    return link.token


async def test_enrolment_link_binds_the_account_and_starts_enrolment(bot: Harness) -> None:
    token = await mint(bot, "anna@example.com")
    user = bot.user()
    answer = await user.send(f"/start {token}")
    assert "anna@example.com" in answer[0].shown_text
    (photo,) = [m for m in answer if m.photo is not None]
    assert parse_key_uri(decode_qr(photo.shown_photo))["account"] == "anna@example.com"
    (reuse,) = await bot.user(2002, "Bo").send(f"/start {token}")
    assert "already used" in reuse.shown_text


@pytest.mark.parametrize(
    ("token", "expected"), [("not-a-real-token-but-long-enough", "not valid"), ("x", "not valid")]
)
async def test_unknown_link_is_explained(bot: Harness, token: str, expected: str) -> None:
    (answer,) = await bot.user().send(f"/start {token}")
    assert expected in answer.shown_text


async def test_expired_link_is_explained(bot: Harness) -> None:
    token = await mint(bot, "anna@example.com")
    bot.clock.advance(hours=1, seconds=1)
    (answer,) = await bot.user().send(f"/start {token}")
    assert "expired" in answer.shown_text


async def test_switching_accounts_needs_a_yes_and_keeps_the_old_devices(bot: Harness) -> None:
    user = bot.user()
    await enrolled(bot, user)  # tg:1001 has a device
    token = await mint(bot, "anna@example.com")
    (question,) = await user.send(f"/start {token}")
    assert "tg:1001" in question.shown_text and "anna@example.com" in question.shown_text
    await user.press(question, "Keep the current account")
    (status,) = await user.send("/status")
    assert "tg:1001" in status.shown_text

    (question,) = await user.send(f"/start {await mint(bot, 'anna@example.com')}")
    answer = await user.press(question, "Switch")
    assert any("now manages the account anna@example.com" in m.content for m in answer)
    assert any(m.photo is not None for m in answer)
    accounts = bot.app.bot_data["services"].accounts
    assert (await accounts.describe("tg:1001")).enrolled  # the old account keeps its device


async def test_switch_button_pressed_by_someone_else_is_ignored(bot: Harness) -> None:
    ann = bot.user()
    await enrolled(bot, ann)
    token = await mint(bot, "anna@example.com")
    (question,) = await ann.send(f"/start {token}")
    data = dict(question.buttons)["Switch"]
    bo = bot.user(2002, "Bo")
    (greeting,) = await bo.send("/start")
    assert await bo.press_data(greeting, data) == []
    assert bo.last_answer["text"] == "This button is no longer valid."
