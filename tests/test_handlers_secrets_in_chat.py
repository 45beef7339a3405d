"""Secrets never stay in a chat, through PTB's Application: a message that shows a secret
(the key, the recovery codes) has its clean-up row before it is sent, so a send whose
answer never came back is still deleted; and a code, a recovery code or a key sent where
no prompt takes it leaves the chat, a recovery code there is voided and the account's
people are told."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.config import Settings
from demo.botapi import SimMessage
from tests.harness import ChatUser, Harness, at_summary, code_for, enrol, scan_qr
from tests.helpers import CODE

SUPPORT = -100500


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, support_chat_id=SUPPORT)


def answer_lost(chat_bot: Harness, method: str) -> None:
    """Telegram carries out the next ``method`` call, but its answer never reaches the bot
    (the process is killed, or the connection drops, right after the send)."""
    original = chat_bot.state.call

    async def call(
        name: str, params: dict[str, str], files: Any = None
    ) -> tuple[int, dict[str, Any]]:
        result = await original(name, params, files)
        if name.lower() == method.lower():
            chat_bot.state.call = original  # type: ignore[method-assign]
            raise TimeoutError  # the request times out: PTB raises TimedOut
        return result

    chat_bot.state.call = call  # type: ignore[method-assign,assignment]


def shown(user: ChatUser, words: str) -> SimMessage:
    (message,) = [m for m in user.messages(include_deleted=True) if words in m.content]
    return message


def gone(chat_bot: Harness, user: ChatUser, message: SimMessage) -> bool:
    return chat_bot.state.current(message).deleted


# ------------------------------------------------ the clean-up row comes before the send


async def test_a_key_whose_send_was_cut_off_still_leaves_the_chat(chat_bot: Harness) -> None:
    user = chat_bot.user()
    photo, _ = await scan_qr(user)
    answer_lost(chat_bot, "sendMessage")
    await user.press(photo, "Show key")
    key = shown(user, "Key for manual entry")  # Telegram shows it; the bot never heard back
    assert not gone(chat_bot, user, key)
    await user.send("/cancel")
    assert gone(chat_bot, user, key)


async def test_a_key_shown_again_after_a_cut_off_send_leaves_the_chat_too(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    photo, secret = await scan_qr(user)
    answer_lost(chat_bot, "sendMessage")
    await user.press(photo, "Show key")
    (again,) = [m for m in await user.press(photo, "Show key") if "Key for" in m.content]
    assert "Key for manual entry" in again.shown_text  # the first one's id never came back
    await user.send(code_for(chat_bot, secret))
    (summary,) = await user.send("Phone")
    await user.press(summary, "Complete activation")
    keys = [m for m in user.messages(include_deleted=True) if "Key for manual" in m.content]
    assert len(keys) == 2 and all(gone(chat_bot, user, k) for k in keys)


async def test_recovery_codes_whose_send_was_cut_off_still_leave_the_chat(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    _, summary = await at_summary(user, "Phone")
    answer_lost(chat_bot, "sendMessage")
    await user.press(summary, "Complete activation")
    codes = shown(user, "recovery codes")
    assert CODE.search(codes.content)
    chat_bot.clock.advance(minutes=14)
    await chat_bot.run_job("chat-cleanup")
    assert not gone(chat_bot, user, codes)
    chat_bot.clock.advance(minutes=1, seconds=1)
    await chat_bot.run_job("chat-cleanup")
    assert gone(chat_bot, user, codes)


async def test_a_new_set_whose_send_was_cut_off_still_leaves_the_chat(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    (status,) = await user.send("/recovery")
    await user.press(status, "New recovery codes")
    answer_lost(chat_bot, "sendMessage")
    await user.send(code_for(chat_bot, secret))
    fresh = [m for m in user.messages() if "recovery codes" in m.content][-1]
    assert CODE.search(fresh.content)
    chat_bot.clock.advance(minutes=15, seconds=1)
    await chat_bot.run_job("chat-cleanup")
    assert gone(chat_bot, user, fresh)


async def test_saved_still_sends_the_codes_off_at_once(chat_bot: Harness) -> None:
    """The row written before the send is the one the button hastens."""
    user = chat_bot.user()
    _, summary = await at_summary(user, "Phone")
    answer = await user.press(summary, "Complete activation")
    (codes,) = [m for m in answer if CODE.search(m.content)]
    await user.press(codes, "I have saved them")
    assert gone(chat_bot, user, codes)


# ------------------------------------------- a secret where no prompt takes it (item 4)

VOIDED = {
    "en": (
        "🔑 A recovery code of tg:1001 was posted in a chat and has been voided ({left} "
        "left). /recovery gives you a new set."
    ),
    "de": (
        "🔑 Ein Wiederherstellungscode von tg:1001 wurde in einem Chat gesendet und ist "
        "jetzt ungültig (noch {left}). /recovery gibt Ihnen einen neuen Satz."
    ),
}
GROUP = -100900


def typed(chat_bot: Harness, chat_id: int, text: str) -> SimMessage:
    (message,) = [m for m in chat_bot.state.user_messages(chat_id) if m.text == text]
    return message


async def recovery_code_is_spent(chat_bot: Harness, user: ChatUser, code: str) -> bool:
    (check,) = await user.send(f"/check {code}")
    return "not right" in check.shown_text or "nicht richtig" in check.shown_text


@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_recovery_code_after_its_prompt_ran_out_is_removed_and_voided(
    chat_bot: Harness, language: str
) -> None:
    user = chat_bot.user()
    _, codes = await enrol(user, "Phone")
    chat_bot.state.users[user.user_id].language_code = language  # from now on, in their app
    (status,) = await user.send("/recovery")
    await user.press(status, status.buttons[0][0])  # New recovery codes
    chat_bot.clock.advance(minutes=6)  # the proof prompt runs out
    answer = await user.send(codes[0])
    assert typed(chat_bot, user.chat_id, codes[0]).deleted
    assert answer[-1].shown_text == VOIDED[language].format(left=9)
    assert await recovery_code_is_spent(chat_bot, user, codes[0])


async def test_a_recovery_code_with_nothing_waiting_is_removed_voided_and_everyone_told(
    chat_bot: Harness,
) -> None:
    ann = chat_bot.user(1001, "Ann")
    secret, codes = await enrol(ann, "Phone")
    link = await chat_bot.app.bot_data["services"].links.mint("tg:1001")
    bo = chat_bot.user(2002, "Bo", language_code="de")
    await bo.send(f"/start {link.token}")
    await bo.send(code_for(chat_bot, secret))
    await chat_bot.run_job("notices")
    text = f"here it is {codes[1].upper()}"
    answer = await ann.send(text)
    assert "not sure what you mean" in answer[0].shown_text
    assert typed(chat_bot, ann.chat_id, text).deleted
    assert ann.last().shown_text == VOIDED["en"].format(left=9)
    assert bo.last().shown_text == VOIDED["de"].format(left=9)
    await ann.send(codes[2])  # a second one: 8 left
    assert ann.last().shown_text == VOIDED["en"].format(left=8)
    assert await recovery_code_is_spent(chat_bot, ann, codes[1])


async def test_an_unknown_recovery_code_or_a_key_with_nothing_waiting_is_removed(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    before = len(user.messages())
    for text in ("0000-1111-2222-3333", "JBSW Y3DP EHPK 3PXP", code_for(chat_bot, secret)):
        (answer,) = await user.send(text)
        assert "not sure what you mean" in answer.shown_text
        assert typed(chat_bot, user.chat_id, text).deleted
    assert not any("voided" in m.content for m in user.messages()[before:])
    await user.send("hello there")
    assert not typed(chat_bot, user.chat_id, "hello there").deleted
    # A code in the private chat is only removed: nobody else read it before it ran out.
    (check,) = await user.send(f"/check {code_for(chat_bot, secret)}")
    assert "Code accepted" in check.shown_text


async def test_a_recovery_code_typed_as_a_reason_or_a_name_is_voided(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, codes = await enrol(user, "Phone")
    (choice,) = await user.send("/lost")
    await user.press(choice, "Ask support")
    (refused, told) = await user.send(f"my code {codes[0]} does not work")
    assert "looks like a recovery code" in refused.shown_text
    assert told.shown_text == VOIDED["en"].format(left=9)
    await user.send("/cancel")
    (listing,) = await user.send("/devices")
    await user.press(listing, "Rename Phone")
    await user.send("/cancel")
    assert await recovery_code_is_spent(chat_bot, user, codes[0])


async def test_a_recovery_code_given_as_proof_is_used_not_reported_as_voided(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    _, codes = await enrol(user, "Phone")
    (first,) = await user.send(f"/check {codes[0]}")
    assert "Recovery code accepted" in first.shown_text and "9 left" in first.shown_text
    assert not any("voided" in m.content for m in user.messages())


async def test_a_recovery_code_posted_in_a_group_is_removed_voided_and_told(
    chat_bot: Harness,
) -> None:
    ann = chat_bot.user(1001, "Ann")
    _, codes = await enrol(ann, "Phone")
    member = ChatUser(chat_bot, 1001, GROUP)
    chat_bot.state.group(GROUP, "Friends")
    (note,) = await member.send(f"my backup code: {codes[3]}")
    assert typed(chat_bot, GROUP, f"my backup code: {codes[3]}").deleted
    assert "removed" in note.shown_text and "private chat" in note.shown_text
    assert codes[3] not in note.shown_text
    assert ann.last().shown_text == VOIDED["en"].format(left=9)
    assert await recovery_code_is_spent(chat_bot, ann, codes[3])


async def test_a_code_posted_in_a_group_cannot_be_replayed(chat_bot: Harness) -> None:
    ann = chat_bot.user(1001, "Ann")
    secret, _ = await enrol(ann, "Phone")
    member = ChatUser(chat_bot, 1001, GROUP)
    chat_bot.state.group(GROUP, "Friends")
    code = code_for(chat_bot, secret)
    await member.send(f"what is {code[:3]} {code[3:]} for?")
    assert typed(chat_bot, GROUP, f"what is {code[:3]} {code[3:]} for?").deleted
    (check,) = await ann.send(f"/check {code}")
    assert "not right" in check.shown_text
    chat_bot.clock.advance(seconds=30)
    (check,) = await ann.send(f"/check {code_for(chat_bot, secret)}")
    assert "Code accepted" in check.shown_text


async def test_a_code_with_check_in_a_group_cannot_be_replayed(chat_bot: Harness) -> None:
    ann = chat_bot.user(1001, "Ann")
    secret, _ = await enrol(ann, "Phone")
    member = ChatUser(chat_bot, 1001, GROUP)
    chat_bot.state.group(GROUP, "Friends")
    code = code_for(chat_bot, secret)
    (answer,) = await member.send(f"/check {code}")
    assert "private chat" in answer.shown_text
    (check,) = await ann.send(f"/check {code}")
    assert "not right" in check.shown_text


async def test_a_group_message_without_a_secret_stays_and_gets_no_answer(chat_bot: Harness) -> None:
    member = chat_bot.group_member(2002, GROUP)
    assert await member.send("see you at 10:30 tomorrow") == []
    assert not typed(chat_bot, GROUP, "see you at 10:30 tomorrow").deleted
