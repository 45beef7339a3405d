"""Enrolment through PTB's Application and a simulated Bot API: what the user sees."""

from __future__ import annotations

import pytest

from core.enrolment_results import Outcome
from handlers.texts import user as texts
from tests.harness import BOT_USERNAME, Harness, at_summary, code_for, enrol, scan_qr
from tests.helpers import decode_qr, parse_key_uri


async def test_start_explains_and_offers_set_up(chat_bot: Harness) -> None:
    (greeting,) = await chat_bot.user().send("/start")
    assert "two-factor authentication" in greeting.shown_text
    assert "authenticator app" in greeting.shown_text and "never use SMS" in greeting.shown_text
    assert [label for label, _ in greeting.buttons] == ["Set up 2FA", "Lost my authenticator"]


async def test_help_lists_the_commands(chat_bot: Harness) -> None:
    (help_text,) = await chat_bot.user().send("/help")
    for command in ("/enroll", "/status", "/cancel", "/help"):
        assert command in help_text.shown_text


async def test_full_enrolment_happy_path(chat_bot: Harness) -> None:
    user = chat_bot.user()
    answer = await user.send("/enroll")
    assert chat_bot.state.chat_actions[-1] == (user.chat_id, "upload_photo")
    (photo,) = answer
    assert photo.protect_content
    assert "scan this QR code" in photo.shown_caption and "6-digit code" in photo.shown_caption
    assert [label for label, _ in photo.buttons] == ["Show key", "Cancel"]

    uri = decode_qr(photo.shown_photo)
    parts = parse_key_uri(uri)
    assert parts["label_issuer"] == "2FA Desk" and parts["issuer"] == "2FA Desk"
    assert parts["account"] == "tg:1001"
    secret = parts["secret"]
    assert len(secret) == 32  # 160 bits
    assert "algorithm" not in parts or parts["algorithm"] == "SHA1"

    (key_message,) = await user.press(photo, "Show key")
    assert key_message.protect_content
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in key_message.shown_text

    code = code_for(chat_bot, secret)
    (ask_name,) = await user.send(f"{code[:3]} {code[3:]}")
    assert "Code confirmed" in ask_name.shown_text and "name this device" in ask_name.shown_text

    (summary,) = await user.send("Philipp iPhone")
    assert "Philipp iPhone" in summary.shown_text and "tg:1001" in summary.shown_text
    assert [label for label, _ in summary.buttons] == ["Complete activation", "Cancel"]

    changed = await user.press(summary, "Complete activation")
    assert user.last_answer.get("text") in (None, "")
    done = chat_bot.state.message(user.chat_id, summary.message_id)
    assert (
        done in changed
        and "2FA is active" in done.shown_text
        and "Philipp iPhone" in done.shown_text
    )
    assert done.buttons == []

    # The QR code, the key and the user's code are gone from the chat.
    assert chat_bot.state.current(photo).deleted
    assert chat_bot.state.current(key_message).deleted
    code_messages = [
        m for m in chat_bot.state.user_messages(user.chat_id) if m.text and code[:3] in m.text
    ]
    assert code_messages and all(m.deleted for m in code_messages)

    # Nothing the bot wrote repeats the code; only the key message (now deleted) held the key.
    for message in user.messages(include_deleted=True):
        assert code not in message.content
        if message.message_id != key_message.message_id:
            assert secret not in message.content

    (status,) = await user.send("/status")
    assert (
        "2FA is active" in status.shown_text
        and "Philipp iPhone" in status.shown_text
        and "added" in status.shown_text
    )


async def test_status_before_enrolment_says_not_set_up(chat_bot: Harness) -> None:
    (status,) = await chat_bot.user().send("/status")
    assert "not set up" in status.shown_text and "/enroll" in status.shown_text


async def test_set_up_button_on_start_begins_enrolment(chat_bot: Harness) -> None:
    user = chat_bot.user()
    (greeting,) = await user.send("/start")
    answer = await user.press(greeting, "Set up 2FA")
    assert any(m.photo is not None for m in answer)


async def test_code_from_previous_or_next_step_is_accepted(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    (reply,) = await user.send(code_for(chat_bot, secret, steps=-1))
    assert "Code confirmed" in reply.shown_text


async def test_wrong_code_says_how_many_tries_are_left(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    wrong = "000000" if code_for(chat_bot, secret) != "000000" else "111111"
    replies = [(await user.send(wrong))[0].shown_text for _ in range(4)]
    assert "doesn't match" in replies[0]
    assert [r.split(". ")[-1] for r in replies] == [
        "4 tries left.",
        "3 tries left.",
        "2 tries left.",
        "1 try left.",
    ]
    (last,) = await user.send(wrong)
    assert "ended this set-up" in last.shown_text and "/enroll" in last.shown_text
    (after,) = await user.send(code_for(chat_bot, secret))
    assert "not sure what you mean" in after.shown_text  # the enrolment is over


@pytest.mark.parametrize(
    "bad_input",
    ["sticker", "photo", "x" * 5000, "🙂", "12345", "1234567", "hello"],
)
async def test_bad_input_at_the_code_step_is_explained_and_changes_nothing(
    chat_bot: Harness, bad_input: str
) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    if bad_input == "sticker":
        (reply,) = await user.send_sticker()
    elif bad_input == "photo":
        (reply,) = await user.send_photo()
    else:
        (reply,) = await user.send(bad_input)
    if bad_input in ("12345", "1234567"):
        assert f"that was {len(bad_input)}" in reply.shown_text
    else:
        assert "waiting for the 6-digit code" in reply.shown_text
    wrong = "000000" if code_for(chat_bot, secret) != "000000" else "111111"
    (after_wrong,) = await user.send(wrong)
    assert "4 tries left" in after_wrong.shown_text  # the bad input cost no try
    (accepted,) = await user.send(code_for(chat_bot, secret))
    assert "Code confirmed" in accepted.shown_text


@pytest.mark.parametrize(
    ("bad_name", "expected"),
    [
        ("x" * 41, "too long"),
        ("two\nlines", "one line"),
        ("sticker", "name for this device"),
        ("123456", "already confirmed"),
    ],
)
async def test_bad_device_names_are_explained(
    chat_bot: Harness, bad_name: str, expected: str
) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    await user.send(code_for(chat_bot, secret))
    if bad_name == "sticker":
        (reply,) = await user.send_sticker()
    else:
        (reply,) = await user.send(bad_name)
    assert expected in reply.shown_text
    (summary,) = await user.send("Work phone")
    assert "Ready to activate" in summary.shown_text


async def test_a_new_name_before_activation_replaces_the_first(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    await user.send(code_for(chat_bot, secret))
    await user.send("Old name")
    (summary,) = await user.send("New name")
    await user.press(summary, "Complete activation")
    (status,) = await user.send("/status")
    assert "New name" in status.shown_text and "Old name" not in status.shown_text


@pytest.mark.parametrize("step", ["code", "name", "confirmation"])
async def test_cancel_works_at_every_step(chat_bot: Harness, step: str) -> None:
    user = chat_bot.user()
    photo, secret = await scan_qr(user)
    if step in ("name", "confirmation"):
        await user.send(code_for(chat_bot, secret))
    if step == "confirmation":
        await user.send("Phone")
    (reply,) = await user.send("/cancel")
    assert "cancelled" in reply.shown_text
    assert chat_bot.state.current(photo).deleted
    (status,) = await user.send("/status")
    assert "not set up" in status.shown_text
    (nothing,) = await user.send("/cancel")
    assert "nothing to cancel" in nothing.shown_text


async def test_cancel_button_on_the_qr_code(chat_bot: Harness) -> None:
    user = chat_bot.user()
    photo, _ = await scan_qr(user)
    answer = await user.press(photo, "Cancel")
    assert any("cancelled" in m.content for m in answer)
    assert chat_bot.state.current(photo).deleted


async def test_enrolment_expires_after_ten_minutes(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    chat_bot.clock.advance(minutes=10, seconds=1)
    (reply,) = await user.send(code_for(chat_bot, secret))
    assert "expired" in reply.shown_text and "/enroll" in reply.shown_text
    (status,) = await user.send("/status")
    assert "not set up" in status.shown_text


async def test_expiry_job_tells_the_user_and_removes_the_qr_code(chat_bot: Harness) -> None:
    user = chat_bot.user()
    photo, _ = await scan_qr(user)
    chat_bot.clock.advance(minutes=11)
    await chat_bot.run_job("expire-enrolments")
    assert "expired" in user.last().shown_text
    assert chat_bot.state.current(photo).deleted


async def test_group_chat_is_refused_and_gets_no_secret(chat_bot: Harness) -> None:
    member = chat_bot.group_member(2002)
    (reply,) = await member.send(f"/enroll@{BOT_USERNAME}")
    assert "private chat only" in reply.shown_text and f"@{BOT_USERNAME}" in reply.shown_text
    assert all(m.photo is None for m in member.messages(include_deleted=True))
    (start,) = await member.send("/start")
    assert "private chat only" in start.shown_text
    assert await member.send("just chatting") == []


async def test_enroll_again_resends_the_same_qr_and_removes_the_old(chat_bot: Harness) -> None:
    user = chat_bot.user()
    first, secret = await scan_qr(user)
    (second,) = [m for m in await user.send("/enroll") if m.photo is not None]
    assert "same QR code again" in second.shown_caption
    assert parse_key_uri(decode_qr(second.shown_photo))["secret"] == secret
    assert chat_bot.state.current(first).deleted
    (reply,) = await user.send(code_for(chat_bot, secret))
    assert "Code confirmed" in reply.shown_text


async def test_enroll_during_a_later_step_repeats_that_step(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    await user.send(code_for(chat_bot, secret))
    (reply,) = await user.send("/enroll")
    assert "name this device" in reply.shown_text


async def test_stale_and_forged_buttons_are_answered_and_ignored(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, summary = await at_summary(user)
    for forged in (
        "v1:enr.done:" + "0" * 32,
        "v1:enr.done:zz",
        "v9:enroll:",
        "garbage",
        "v1:nope:",
    ):
        assert await user.press_data(summary, forged) == []
        assert user.last_answer["text"] == "This button is no longer valid."
    (status,) = await user.send("/status")
    assert "not set up" in status.shown_text

    complete = dict(summary.buttons)["Complete activation"]
    await user.press(summary, "Complete activation")
    again = await user.press_data(summary, complete)
    assert again == []
    assert user.last_answer["text"] == "This button is no longer valid."
    (status,) = await user.send("/status")
    assert status.shown_text.count("Phone") == 1


async def test_another_user_cannot_press_my_buttons(chat_bot: Harness) -> None:
    ann, bo = chat_bot.user(1001), chat_bot.user(2002, "Bo", "bo")
    _, summary = await at_summary(ann)
    # Bo forges a press of Ann's button data in his own chat.
    (bo_greeting,) = await bo.send("/start")
    await bo.press_data(bo_greeting, dict(summary.buttons)["Complete activation"])
    assert bo.last_answer["text"] == "This button is no longer valid."
    (status,) = await ann.send("/status")
    assert "not set up" in status.shown_text


async def test_second_device_goes_through_the_same_steps(chat_bot: Harness) -> None:
    user = chat_bot.user()
    first_photo, summary = await at_summary(user, "Phone")
    first_secret = parse_key_uri(decode_qr(first_photo.shown_photo))["secret"]
    await user.press(summary, "Complete activation")
    chat_bot.clock.advance(minutes=1)
    (ask,) = await user.send("/enroll")
    assert (
        "already has 2FA" in ask.shown_text
        and "first send a current 6-digit code" in ask.shown_text
    )
    (refused,) = await user.send(
        "000000" if code_for(chat_bot, first_secret) != "000000" else "111111"
    )
    assert "not right" in refused.shown_text
    answer = await user.send(code_for(chat_bot, first_secret))
    photo = next(m for m in answer if m.photo is not None)
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    await user.send(code_for(chat_bot, secret))
    (summary,) = await user.send("Tablet")
    await user.press(summary, "Complete activation")
    assert "You have 2 devices" in user.last().shown_text
    (status,) = await user.send("/status")
    assert "Phone" in status.shown_text and "Tablet" in status.shown_text


async def test_device_name_is_shown_as_text_not_markup(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user, "<b>Ann's</b> & phone")
    (status,) = await user.send("/status")
    assert "<b>Ann's</b> & phone" in status.shown_text


async def test_a_failed_reply_loses_nothing(chat_bot: Harness) -> None:
    """Telegram fails while answering the code: the code still counted; the user is guided on."""
    user = chat_bot.user()
    _, secret = await scan_qr(user)
    chat_bot.state.fail_next("sendMessage", status=500)
    apology = await user.send(code_for(chat_bot, secret))
    assert [m.text for m in apology] == [texts.SORRY]
    (reply,) = await user.send(code_for(chat_bot, secret))  # the user tries again
    assert "already confirmed" in reply.shown_text
    (summary,) = await user.send("Phone")
    assert "Ready to activate" in summary.shown_text


async def test_unknown_text_and_commands_get_a_pointer(chat_bot: Harness) -> None:
    user = chat_bot.user()
    (reply,) = await user.send("hello?")
    assert "/enroll" in reply.shown_text and "/help" in reply.shown_text
    (reply,) = await user.send("/frobnicate")
    assert "/help" in reply.shown_text


async def test_deletion_that_fails_is_retried_by_the_cleanup_job(chat_bot: Harness) -> None:
    user = chat_bot.user()
    photo, summary = await at_summary(user)
    chat_bot.state.fail_next("deleteMessages", status=502)
    await user.press(summary, "Complete activation")
    assert "2FA is active" in chat_bot.state.current(summary).shown_text
    assert not chat_bot.state.current(photo).deleted
    await chat_bot.run_job("chat-cleanup")  # too early: the retry backs off
    assert not chat_bot.state.current(photo).deleted
    chat_bot.clock.advance(seconds=5)
    await chat_bot.run_job("chat-cleanup")
    assert chat_bot.state.current(photo).deleted


async def test_expiry_notice_to_a_user_who_blocked_the_bot_does_not_stop_the_others(
    chat_bot: Harness,
) -> None:
    ann, bo = chat_bot.user(1001), chat_bot.user(2002, "Bo", "bo")
    await scan_qr(ann)
    bo_photo, _ = await scan_qr(bo)
    chat_bot.state.block(1001)
    chat_bot.clock.advance(minutes=11)
    await chat_bot.run_job("expire-enrolments")
    assert "expired" in bo.last().shown_text
    assert chat_bot.state.current(bo_photo).deleted
    (status,) = await bo.send("/status")
    assert "not set up" in status.shown_text
    ended = await chat_bot.app.bot_data["services"].enrolment.pending(ann.user_id)
    assert ended.outcome is Outcome.NO_ENROLMENT  # expired, though Ann could not be told
