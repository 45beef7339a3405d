"""/check and enrolment links through PTB's Application: what the user sees."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import FakeClock
from core.config import Settings
from storage.records import AccountSecurity
from tests.harness import Harness, code_for, enrol, running_bot, scan_qr, wrong
from tests.helpers import decode_qr, parse_key_uri, shown_time


async def test_check_accepts_the_current_code_and_removes_it(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    (ask,) = await user.send("/check")
    assert "6-digit code" in ask.shown_text
    code = code_for(chat_bot, secret)
    (answer,) = await user.send(code)
    assert "Code accepted" in answer.shown_text and "Phone" in answer.shown_text
    typed = [m for m in chat_bot.state.user_messages(user.chat_id) if m.text == code]
    assert typed and typed[-1].deleted
    (again,) = await user.send(code)  # the prompt is over: not a check any more
    assert "not sure what you mean" in again.shown_text


async def test_check_with_the_code_inline(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    code = code_for(chat_bot, secret)
    (answer,) = await user.send(f"/check {code[:3]} {code[3:]}")
    assert "Code accepted" in answer.shown_text
    (replay,) = await user.send(f"/check {code}")
    assert "not right" in replay.shown_text and "already used" in replay.shown_text


async def test_the_code_inline_ends_a_check_that_waited_for_it(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    await user.send("/check")
    bad = wrong(chat_bot, secret)
    (refused,) = await user.send(f"/check {bad}")
    assert "not right" in refused.shown_text
    (still,) = await user.send("what?")  # a wrong code: the check still waits
    assert "6-digit code" in still.shown_text
    (answer,) = await user.send(f"/check {code_for(chat_bot, secret)}")
    assert "Code accepted" in answer.shown_text
    (after,) = await user.send("what?")
    assert "not sure what you mean" in after.shown_text


async def test_wrong_code_says_tries_left_then_locks(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    await user.send("/check")
    bad = wrong(chat_bot, secret)
    answers = [(await user.send(bad))[0].shown_text for _ in range(4)]
    assert "4 tries left" in answers[0] and "1 try left" in answers[3]
    (locked,) = await user.send(bad)
    until = shown_time(chat_bot.clock.now() + timedelta(minutes=15))
    assert "Locked" in locked.shown_text and until in locked.shown_text
    assert f"{until} (in 15 minutes)" in locked.shown_text
    (still,) = await user.send(f"/check {code_for(chat_bot, secret)}")
    assert "Locked" in still.shown_text and "even with a correct code" in still.shown_text


async def test_check_without_2fa_says_not_set_up(chat_bot: Harness) -> None:
    user = chat_bot.user()
    (answer,) = await user.send("/check 123456")
    assert "No 2FA is set up" in answer.shown_text and "/enroll" in answer.shown_text


async def test_check_during_a_deactivation(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    until = chat_bot.clock.now() + timedelta(hours=24)
    db = chat_bot.app.bot_data["services"].db
    await db.run(
        lambda tx: tx.security.save(
            AccountSecurity("tg:1001", deactivated_until=until), chat_bot.clock.now()
        )
    )
    (answer,) = await user.send(f"/check {code_for(chat_bot, secret)}")
    assert "temporarily off" in answer.shown_text and "password alone" in answer.shown_text


async def test_check_prompt_explains_bad_input_and_cancel_stops_it(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user)
    await user.send("/check")
    (sticker,) = await user.send_sticker()
    assert "6-digit code" in sticker.shown_text
    (text,) = await user.send("what?")
    assert "6-digit code" in text.shown_text
    (stopped,) = await user.send("/cancel")
    assert stopped.text == "Stopped checking a code. Nothing was changed."
    (after,) = await user.send("123456")
    assert "not sure what you mean" in after.shown_text


async def test_check_during_enrolment_says_what_waits_and_offers_to_drop_it(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    await scan_qr(user)
    (answer,) = await user.send("/check")
    assert answer.text == (
        "You are setting up a new device: send the 6-digit code your app shows, or /cancel."
    )
    assert [label for label, _ in answer.buttons] == ["Continue", "Drop it, start the new one"]


async def test_check_prompt_survives_a_restart(settings: Settings, clock: FakeClock) -> None:
    async with running_bot(settings, clock) as first:
        user = first.user()
        secret, _ = await enrol(user)
        await user.send("/check")
    async with running_bot(settings, clock) as second:
        user = second.user()
        (answer,) = await user.send(code_for(second, secret))
        assert "Code accepted" in answer.shown_text


async def mint(chat_bot: Harness, account: str) -> str:
    link = await chat_bot.app.bot_data["services"].links.mint(account)
    return link.token


async def test_enrolment_link_binds_the_account_and_starts_enrolment(chat_bot: Harness) -> None:
    token = await mint(chat_bot, "anna@example.com")
    user = chat_bot.user()
    answer = await user.send(f"/start {token}")
    assert "anna@example.com" in answer[0].shown_text
    (photo,) = [m for m in answer if m.photo is not None]
    assert parse_key_uri(decode_qr(photo.shown_photo))["account"] == "anna@example.com"
    (reuse,) = await chat_bot.user(2002, "Bo").send(f"/start {token}")
    assert "already used" in reuse.shown_text


@pytest.mark.parametrize(
    ("token", "expected"), [("not-a-real-token-but-long-enough", "not valid"), ("x", "not valid")]
)
async def test_unknown_link_is_explained(chat_bot: Harness, token: str, expected: str) -> None:
    (answer,) = await chat_bot.user().send(f"/start {token}")
    assert expected in answer.shown_text


async def test_expired_link_is_explained(chat_bot: Harness) -> None:
    token = await mint(chat_bot, "anna@example.com")
    chat_bot.clock.advance(hours=1, seconds=1)
    (answer,) = await chat_bot.user().send(f"/start {token}")
    assert "expired" in answer.shown_text


async def test_switching_accounts_needs_a_yes_and_keeps_the_old_devices(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user)  # tg:1001 has a device
    token = await mint(chat_bot, "anna@example.com")
    (question,) = await user.send(f"/start {token}")
    assert "tg:1001" in question.shown_text and "anna@example.com" in question.shown_text
    await user.press(question, "Keep the current account")
    (status,) = await user.send("/status")
    assert "tg:1001" in status.shown_text

    (question,) = await user.send(f"/start {await mint(chat_bot, 'anna@example.com')}")
    answer = await user.press(question, "Switch")
    assert any("now manages the account anna@example.com" in m.content for m in answer)
    assert any(m.photo is not None for m in answer)
    accounts = chat_bot.app.bot_data["services"].accounts
    assert (await accounts.describe("tg:1001")).enrolled  # the old account keeps its device


async def test_switch_button_pressed_by_someone_else_is_ignored(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    token = await mint(chat_bot, "anna@example.com")
    (question,) = await ann.send(f"/start {token}")
    data = dict(question.buttons)["Switch"]
    bo = chat_bot.user(2002, "Bo")
    (greeting,) = await bo.send("/start")
    assert await bo.press_data(greeting, data) == []
    assert bo.last_answer["text"] == "This button is no longer valid."
