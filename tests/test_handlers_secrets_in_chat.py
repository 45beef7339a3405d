"""Secrets never stay in a chat, through PTB's Application: a message that shows a secret
(the key, the recovery codes) has its clean-up row before it is sent, so a send whose
answer never came back is still deleted; and a code, a recovery code or a key sent where
no prompt takes it leaves the chat, a recovery code there is voided and the account's
people are told."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Settings
from tests.botapi import SimMessage
from tests.harness import ChatUser, Harness, running_bot
from tests.test_handlers_devices import CODE, enrol
from tests.test_handlers_enrolment import at_summary, code_for, scan_qr

SUPPORT = -100500


@pytest.fixture
async def bot(settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with running_bot(dataclasses.replace(settings, support_chat_id=SUPPORT), clock) as h:
        h.state.group(SUPPORT, "Support")
        yield h


def answer_lost(bot: Harness, method: str) -> None:
    """Telegram carries out the next ``method`` call, but its answer never reaches the bot
    (the process is killed, or the connection drops, right after the send)."""
    original = bot.state.call

    async def call(
        name: str, params: dict[str, str], files: Any = None
    ) -> tuple[int, dict[str, Any]]:
        result = await original(name, params, files)
        if name.lower() == method.lower():
            bot.state.call = original  # type: ignore[method-assign]
            raise TimeoutError  # the request times out: PTB raises TimedOut
        return result

    bot.state.call = call  # type: ignore[method-assign,assignment]


def shown(user: ChatUser, words: str) -> SimMessage:
    (message,) = [m for m in user.messages(include_deleted=True) if words in m.content]
    return message


def gone(bot: Harness, user: ChatUser, message: SimMessage) -> bool:
    return bot.state.current(message).deleted


# ------------------------------------------------ the clean-up row comes before the send


async def test_a_key_whose_send_was_cut_off_still_leaves_the_chat(bot: Harness) -> None:
    user = bot.user()
    photo, _ = await scan_qr(user)
    answer_lost(bot, "sendMessage")
    await user.press(photo, "Show key")
    key = shown(user, "Key for manual entry")  # Telegram shows it; the bot never heard back
    assert not gone(bot, user, key)
    await user.send("/cancel")
    assert gone(bot, user, key)


async def test_a_key_shown_again_after_a_cut_off_send_leaves_the_chat_too(
    bot: Harness,
) -> None:
    user = bot.user()
    photo, secret = await scan_qr(user)
    answer_lost(bot, "sendMessage")
    await user.press(photo, "Show key")
    (again,) = [m for m in await user.press(photo, "Show key") if "Key for" in m.content]
    assert "Key for manual entry" in again.shown_text  # the first one's id never came back
    await user.send(code_for(bot, secret))
    (summary,) = await user.send("Phone")
    await user.press(summary, "Complete activation")
    keys = [m for m in user.messages(include_deleted=True) if "Key for manual" in m.content]
    assert len(keys) == 2 and all(gone(bot, user, k) for k in keys)


async def test_recovery_codes_whose_send_was_cut_off_still_leave_the_chat(
    bot: Harness,
) -> None:
    user = bot.user()
    _, summary = await at_summary(user, "Phone")
    answer_lost(bot, "sendMessage")
    await user.press(summary, "Complete activation")
    codes = shown(user, "recovery codes")
    assert CODE.search(codes.content)
    bot.clock.advance(minutes=14)
    await bot.run_job("chat-cleanup")
    assert not gone(bot, user, codes)
    bot.clock.advance(minutes=1, seconds=1)
    await bot.run_job("chat-cleanup")
    assert gone(bot, user, codes)


async def test_a_new_set_whose_send_was_cut_off_still_leaves_the_chat(bot: Harness) -> None:
    user = bot.user()
    secret, _ = await enrol(bot, user, "Phone")
    (status,) = await user.send("/recovery")
    await user.press(status, "New recovery codes")
    answer_lost(bot, "sendMessage")
    await user.send(code_for(bot, secret))
    fresh = [m for m in user.messages() if "recovery codes" in m.content][-1]
    assert CODE.search(fresh.content)
    bot.clock.advance(minutes=15, seconds=1)
    await bot.run_job("chat-cleanup")
    assert gone(bot, user, fresh)


async def test_saved_still_sends_the_codes_off_at_once(bot: Harness) -> None:
    """The row written before the send is the one the button hastens."""
    user = bot.user()
    _, summary = await at_summary(user, "Phone")
    answer = await user.press(summary, "Complete activation")
    (codes,) = [m for m in answer if CODE.search(m.content)]
    await user.press(codes, "I have saved them")
    assert gone(bot, user, codes)
