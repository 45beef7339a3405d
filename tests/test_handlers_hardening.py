"""Security review findings, through PTB's Application: recovery codes leave the chat,
secrets typed in a group are removed (a link is voided), and a button works only on the
message, and in the chat, it was sent on."""

from __future__ import annotations

import dataclasses

import pytest

from core.clock import FakeClock
from core.config import Settings
from demo.botapi import SimMessage
from tests.harness import (
    AGENT,
    ChatUser,
    Harness,
    at_summary,
    code_for,
    enrol,
    file_request,
    in_support,
    running_bot,
    support_message,
)
from tests.helpers import CODE

SUPPORT, OPS = -100500, -100700
SAVED = "I have saved them"
STALE = "This button is no longer valid."


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, support_chat_id=SUPPORT, ops_chat_id=OPS, support_agent_ids=frozenset({AGENT})
    )


def codes_message(messages: list[SimMessage]) -> SimMessage:
    (message,) = [
        m for m in messages if m.text and "recovery codes" in m.text and CODE.search(m.text)
    ]
    return message


async def activate(user: ChatUser) -> SimMessage:
    """The first device: the message with the ten recovery codes."""
    _, summary = await at_summary(user, "Phone")
    return codes_message(await user.press(summary, "Complete activation"))


def deleted(chat_bot: Harness, user: ChatUser, message: SimMessage) -> bool:
    found = chat_bot.state.message(user.chat_id, message.message_id)
    return found is not None and found.deleted


# ------------------------------------------------------------- 1. recovery codes


async def test_recovery_codes_leave_the_chat_once_saved(chat_bot: Harness) -> None:
    user = chat_bot.user()
    codes = await activate(user)
    assert [label for label, _ in codes.buttons] == [SAVED]
    assert "15 minutes" in codes.shown_text
    await user.press(codes, SAVED)
    assert deleted(chat_bot, user, codes)
    assert "/recovery" in user.last_answer["text"]


async def test_recovery_codes_leave_the_chat_after_15_minutes_across_a_restart(
    settings: Settings, clock: FakeClock
) -> None:
    async with running_bot(settings, clock) as first:
        user = first.user()
        codes = await activate(user)
        clock.advance(minutes=14)
        await first.run_job("chat-cleanup")
        assert not deleted(first, user, codes)
    async with running_bot(settings, clock) as second:
        second.state.chats.update(first.state.chats)
        second.state.users.update(first.state.users)
        clock.advance(minutes=1, seconds=1)
        await second.run_job("chat-cleanup")
        assert deleted(second, user, codes)


async def test_a_new_set_from_recovery_leaves_the_chat_too(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    (status,) = await user.send("/recovery")
    await user.press(status, "New recovery codes")
    fresh = codes_message(await user.send(code_for(chat_bot, secret)))
    assert [label for label, _ in fresh.buttons] == [SAVED]
    chat_bot.clock.advance(minutes=15)
    await chat_bot.run_job("chat-cleanup")
    assert deleted(chat_bot, user, fresh)


async def test_saved_pressed_on_another_message_deletes_nothing(chat_bot: Harness) -> None:
    user = chat_bot.user()
    codes = await activate(user)
    (status,) = await user.send("/status")
    assert await user.press_data(status, dict(codes.buttons)[SAVED]) == []
    assert user.last_answer["text"] == STALE
    assert not deleted(chat_bot, user, status) and not deleted(chat_bot, user, codes)


async def join_with_a_code(chat_bot: Harness, secret: str, account: str = "tg:1001") -> ChatUser:
    """Bo opens an enrolment link for the account and proves it with a current code."""
    link = await chat_bot.app.bot_data["services"].links.mint(account)
    bo = chat_bot.user(2002, "Bo", "bo")
    await bo.send(f"/start {link.token}")
    await bo.send(code_for(chat_bot, secret))
    return bo


def ops_alerts(chat_bot: Harness, title: str) -> list[str]:
    return [m.text for m in chat_bot.state.messages(OPS) if m.text and title in m.text]


async def test_a_device_removed_with_a_recovery_code_tells_everyone_and_warns_ops(
    chat_bot: Harness,
) -> None:
    ann = chat_bot.user(1001, "Ann")
    secret, codes = await enrol(ann, "Phone")
    bo = await join_with_a_code(chat_bot, secret)
    chat_bot.clock.advance(seconds=60)
    (choice,) = await ann.send("/lost")
    await ann.press(choice, "Use a recovery code")
    (recovered,) = await ann.send(codes[0])
    (confirm,) = await ann.press(recovered, "Remove Phone")
    await ann.press(confirm, "Yes, turn 2FA off")
    await chat_bot.run_job("notices")
    told = bo.last().shown_text
    assert "recovery code was used to remove" in told and "Phone" in told and "tg:1001" in told
    assert not any("recovery code was used to remove" in m.shown_text for m in ann.messages())
    await chat_bot.run_job("alerts")
    (alert,) = ops_alerts(chat_bot, "Device removed with a recovery code")
    assert "WARNING" in alert and "tg:1001" in alert and "What to do" in alert
    assert codes[0] not in alert


async def test_a_new_device_after_a_recovery_code_tells_everyone_and_warns_ops(
    chat_bot: Harness,
) -> None:
    ann = chat_bot.user(1001, "Ann")
    secret, codes = await enrol(ann, "Phone")
    bo = await join_with_a_code(chat_bot, secret)
    (choice,) = await ann.send("/lost")
    await ann.press(choice, "Use a recovery code")
    (recovered,) = await ann.send(codes[0])
    answer = await ann.press(recovered, "Set up a new device")
    assert any(m.photo is not None for m in answer)
    await chat_bot.run_job("notices")
    assert "recovery code was used to set up a new device" in bo.last().shown_text
    await chat_bot.run_job("alerts")
    (alert,) = ops_alerts(chat_bot, "New device set up with a recovery code")
    assert "WARNING" in alert and "What to do" in alert


# ------------------------------------------------------------- 3. secrets in a group


async def test_a_link_sent_in_a_group_is_removed_and_voided(chat_bot: Harness) -> None:
    link = await chat_bot.app.bot_data["services"].links.mint("anna@example.com")
    member = chat_bot.group_member(2002, -100900)
    (answer,) = await member.send(f"/start {link.token}")
    assert "private chat" in answer.shown_text and "no longer works" in answer.shown_text
    typed = [
        m for m in chat_bot.state.user_messages(member.chat_id) if link.token in (m.text or "")
    ]
    assert typed and all(m.deleted for m in typed)
    (refused,) = await chat_bot.user(2002, "Bo").send(f"/start {link.token}")
    assert "no longer works" in refused.shown_text
    (status,) = await chat_bot.user(2002).send("/status")
    assert "anna@example.com" not in status.shown_text


@pytest.mark.parametrize("command", ["/check 123456", "/check@twofa_desk_bot 123 456"])
async def test_a_code_sent_in_a_group_is_removed(chat_bot: Harness, command: str) -> None:
    member = chat_bot.group_member(2002, -100900)
    (answer,) = await member.send(command)
    assert "private chat" in answer.shown_text
    typed = [m for m in chat_bot.state.user_messages(member.chat_id) if m.text == command]
    assert typed and typed[0].deleted


async def test_a_group_message_without_a_secret_stays(chat_bot: Harness) -> None:
    member = chat_bot.group_member(2002, -100900)
    await member.send("/check")
    await member.send("/start")
    assert not any(m.deleted for m in chat_bot.state.user_messages(member.chat_id))


# ------------------------------------------------------------- 4. forged presses


@pytest.mark.parametrize(
    "data",
    [
        "v1:link.no:",
        "v1:link.yes:abc",
        "v1:enroll:",
        "v1:enr.cancel:",
        "v1:lost:",
        "v1:lost.wd:1",
        "v1:dev.keep:",
        "v1:rec.new:",
        "v1:conv.drop:",
        "v1:conv.go:",
    ],
)
async def test_a_private_button_forged_onto_a_support_post_changes_nothing(
    chat_bot: Harness, data: str
) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    post = support_message(chat_bot)
    before = (post.text, post.buttons)
    support_count = len(chat_bot.state.messages(SUPPORT))
    agent = in_support(chat_bot, AGENT)
    assert await agent.press_data(post, data) == []
    assert agent.last_answer["text"] == STALE
    await chat_bot.run_job("support-sync")
    after = support_message(chat_bot)
    assert (after.text, after.buttons) == before
    assert len(chat_bot.state.messages(SUPPORT)) == support_count


async def test_keep_forged_onto_another_message_of_the_chat_changes_nothing(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    await enrol(user)
    link = await chat_bot.app.bot_data["services"].links.mint("anna@example.com")
    (question,) = await user.send(f"/start {link.token}")
    (status,) = await user.send("/status")
    assert await user.press_data(status, dict(question.buttons)["Keep the current account"]) == []
    assert user.last_answer["text"] == STALE
    assert chat_bot.state.current(status).text == status.text


async def test_a_support_button_pressed_outside_the_support_chat_changes_nothing(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    (greeting,) = await chat_bot.user(AGENT, "Agent").send("/start")
    agent = chat_bot.user(AGENT)
    assert await agent.press_data(greeting, "v1:req.dnx:1") == []
    assert agent.last_answer["text"] == STALE
    assert "Denied" not in support_message(chat_bot).shown_text
