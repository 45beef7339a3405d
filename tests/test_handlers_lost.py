"""Lost authenticator through PTB's Application: the user, the support chat, the agents."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.config import Settings
from handlers import support_sync
from tests.harness import (
    ADMIN,
    AGENT,
    BYSTANDER,
    OTHER_AGENT,
    SUPPORT,
    Harness,
    approve,
    code_for,
    enrol,
    file_request,
    in_support,
    running_bot,
    support_message,
)
from tests.helpers import shown_time


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        support_chat_id=SUPPORT,
        support_agent_ids=frozenset({AGENT, OTHER_AGENT}),
        admin_user_ids=frozenset({ADMIN}),
    )


async def test_request_reaches_support_with_what_an_agent_needs(chat_bot: Harness) -> None:
    user = chat_bot.user(1001, "Ann", "ann")
    await file_request(chat_bot, user)
    posted = support_message(chat_bot)
    for expected in (
        "#1",
        "tg:1001",
        "Ann",
        "@ann",
        "1001",
        "Phone",
        "added",
        "Phone lost on a trip",
        "Failed checks in the last 24 h: 0",
        "Earlier requests: none",
    ):
        assert expected in posted.shown_text
    assert [label for label, _ in posted.buttons] == ["Approve", "Deny"]


async def test_approval_turns_2fa_off_and_tells_everyone(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret = await file_request(chat_bot, user)
    agent = in_support(chat_bot, AGENT)
    await agent.press(support_message(chat_bot), "Approve")
    choices = support_message(chat_bot)
    assert "for how long" in choices.shown_text
    assert [label for label, _ in choices.buttons] == ["4 h", "12 h", "24 h", "3 d", "Back"]
    await agent.press(choices, "24 h")
    decided = support_message(chat_bot)
    until = shown_time(chat_bot.clock.now() + timedelta(hours=24))
    assert (
        "Approved" in decided.shown_text and until in decided.shown_text and decided.buttons == []
    )
    told = user.last()
    assert "approved request #1" in told.shown_text and until in told.shown_text
    assert "password alone" in told.shown_text
    assert [label for label, _ in told.buttons] == ["Set up a new device"]
    (check,) = await user.send(f"/check {code_for(chat_bot, secret)}")
    assert "temporarily off" in check.shown_text
    (status,) = await user.send("/status")
    # The lost device is revoked: 2FA is required again when the window ends.
    assert "No device" in status.shown_text and "required again" in status.shown_text
    assert "temporarily off" in status.shown_text


async def test_non_agent_press_changes_nothing(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    bystander = in_support(chat_bot, BYSTANDER)
    before = support_message(chat_bot).text
    assert await bystander.press(support_message(chat_bot), "Approve") == []
    assert bystander.last_answer["text"] == "Only support agents can decide."
    assert support_message(chat_bot).text == before


async def test_agent_cannot_decide_about_their_own_account(chat_bot: Harness) -> None:
    agent_as_user = chat_bot.user(AGENT, "Agnes")
    await file_request(chat_bot, agent_as_user)
    agent = await approve(chat_bot)
    assert agent.last_answer["text"] == "You cannot decide a request about your own account."
    assert "Approved" not in support_message(chat_bot).shown_text


async def test_deny_with_a_reason_reaches_the_user(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    agent = in_support(chat_bot, AGENT)
    await agent.press(support_message(chat_bot), "Deny")
    assert "reply to this message" in support_message(chat_bot).shown_text
    update = chat_bot.state.send_text(AGENT, "Identity not confirmed", SUPPORT)
    update["message"]["reply_to_message"] = chat_bot.state.message_json(support_message(chat_bot))
    await chat_bot.feed(SUPPORT, update)
    assert (
        "Denied" in support_message(chat_bot).shown_text
        and "Identity not confirmed" in support_message(chat_bot).shown_text
    )
    told = user.last()
    assert "declined request #1" in told.shown_text and "Identity not confirmed" in told.shown_text


async def test_deny_without_reason(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    agent = in_support(chat_bot, AGENT)
    await agent.press(support_message(chat_bot), "Deny")
    await agent.press(support_message(chat_bot), "Deny without reason")
    assert "Denied" in support_message(chat_bot).shown_text
    assert (
        "declined request #1" in user.last().shown_text and "Reason" not in user.last().shown_text
    )


async def test_two_agents_give_exactly_one_decision(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    first, second = in_support(chat_bot, AGENT), in_support(chat_bot, OTHER_AGENT)
    await first.press(support_message(chat_bot), "Approve")
    stale_deny = dict(support_message(chat_bot).buttons)["Back"].replace("req.back", "req.dnx")
    await first.press(support_message(chat_bot), "24 h")
    await second.press_data(support_message(chat_bot), stale_deny)
    assert second.last_answer["text"] == "Already approved by Ann."
    assert (
        "Approved" in support_message(chat_bot).shown_text
        and "Denied" not in support_message(chat_bot).shown_text
    )


async def test_user_can_withdraw(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    filed = next(m for m in user.messages() if "is with support" in m.shown_text)
    await user.press(filed, "Withdraw the request")
    assert "withdrawn" in chat_bot.state.current(filed).shown_text
    assert (
        "Withdrawn" in support_message(chat_bot).shown_text
        and support_message(chat_bot).buttons == []
    )
    agent = in_support(chat_bot, AGENT)
    await agent.press_data(support_message(chat_bot), "v1:req.ap:1")
    assert "already withdrawn" in agent.last_answer["text"]


async def test_undecided_request_expires_and_the_user_is_told(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    chat_bot.clock.advance(hours=48, seconds=1)
    await chat_bot.run_job("support-sync")
    assert "expired without a decision" in user.last().shown_text
    assert "Expired" in support_message(chat_bot).shown_text


async def test_one_open_request_per_account(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    (again,) = await user.send("/lost")
    assert "request #1" in again.shown_text and "still with support" in again.shown_text
    assert [label for label, _ in again.buttons] == ["Withdraw the request"]


async def test_lost_without_2fa_has_nothing_to_deactivate(chat_bot: Harness) -> None:
    (answer,) = await chat_bot.user().send("/lost")
    assert "nothing to turn off" in answer.shown_text


async def test_lost_without_a_support_chat_is_refused(settings: Settings, clock: FakeClock) -> None:
    async with running_bot(settings, clock) as harness:
        user = harness.user()
        await enrol(user)
        (choice,) = await user.send("/lost")
        assert [label for label, _ in choice.buttons] == ["Use a recovery code"]


async def test_bad_reasons_are_explained(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user)
    (choice,) = await user.send("/lost")
    await user.press(choice, "Ask support")
    (sticker,) = await user.send_sticker()
    assert "as text" in sticker.shown_text
    (long,) = await user.send("x" * 501)
    assert "too long" in long.shown_text
    (code,) = await user.send("my recovery code 7f4a-6e81-0c2d-93be does not work")
    assert "looks like a recovery code" in code.shown_text
    typed = [m for m in chat_bot.state.user_messages(user.chat_id) if "7f4a" in (m.text or "")]
    assert typed and typed[0].deleted  # it left the chat; it never reaches support
    (cancel,) = await user.send("/cancel")
    assert cancel.text == "Stopped asking support to turn 2FA off. Nothing was changed."


@pytest.mark.parametrize(
    "data",
    [
        "v1:req.apd:1.999",
        "v1:req.apd:1.5",
        "v1:req.apd:1." + "9" * 30,
        "v1:req.ap:zz",
        "v1:req.ap:2",
        "v1:req.zz:1",
        "v1:req.ap:" + "9" * 30,
    ],
)
async def test_forged_support_buttons_are_answered_and_ignored(
    chat_bot: Harness, data: str
) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    agent = in_support(chat_bot, AGENT)
    before = support_message(chat_bot).text
    await agent.press_data(support_message(chat_bot), data)
    assert agent.last_answer["text"] in ("This button is no longer valid.",)
    assert support_message(chat_bot).text == before


async def test_new_device_ends_the_deactivation_early(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    await approve(chat_bot)
    secret, _ = await enrol(user)
    (check,) = await user.send(f"/check {code_for(chat_bot, secret)}")
    assert "Code accepted" in check.shown_text


async def test_reminder_before_the_window_ends(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    await approve(chat_bot)
    chat_bot.clock.advance(hours=21, minutes=30)
    await chat_bot.run_job("support-sync")
    assert "is off only until" in user.last().shown_text
    count = len(user.messages())
    await chat_bot.run_job("support-sync")
    assert len(user.messages()) == count  # once


async def test_decision_after_a_restart(chat_settings: Settings, clock: FakeClock) -> None:
    async with running_bot(chat_settings, clock) as first:
        first.state.group(SUPPORT, "Support")
        user = first.user()
        await file_request(first, user)
        posted = support_message(first)
    async with running_bot(chat_settings, clock) as second:
        # The old support message, pressed after the restart (carried over to the new state).
        second.state.chats.update(first.state.chats)
        second.state.users.update(first.state.users)
        agent = in_support(second, AGENT)
        await agent.press(posted, "Approve")
        await agent.press(support_message(second), "24 h")
        assert "Approved" in support_message(second).shown_text
        told = second.state.last_message(user.chat_id)
        assert told is not None and "approved request #1" in told.shown_text


@pytest.mark.parametrize("data", ["v1:lost.wd:abc", "v1:lost.wd:" + "9" * 32, "v1:lost.wd:"])
async def test_forged_withdraw_buttons_are_answered_and_ignored(
    chat_bot: Harness, data: str
) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    filed = next(m for m in user.messages() if "is with support" in m.shown_text)
    assert await user.press_data(filed, data) == []
    assert user.last_answer["text"] == "This button is no longer valid."
    assert "Withdrawn" not in support_message(chat_bot).shown_text


async def test_concurrent_syncs_post_and_tell_once(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    svc = chat_bot.app.bot_data["services"]
    result = await svc.deactivation.file(TelegramIdentity(1001, "ann", "Ann"), 1001, "lost it")
    assert result.request is not None and secret
    await asyncio.gather(*(support_sync.sync(chat_bot.app.bot, svc) for _ in range(5)))
    posted = [m for m in chat_bot.state.messages(SUPPORT) if "Deactivation request" in m.shown_text]
    assert len(posted) == 1


async def test_an_account_with_many_devices_still_reaches_support(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user)
    svc = chat_bot.app.bot_data["services"]
    now = chat_bot.clock.now()
    await svc.db.run(
        lambda tx: [
            tx.devices.add(f"{i:032x}", "tg:1001", "x" * 40, b"\x01" * 40, None, None, now)
            for i in range(60)
        ]
    )
    (choice,) = await user.send("/lost")
    await user.press(choice, "Ask support")
    (preview,) = await user.send("many devices")
    await user.press(preview, "Send to support")
    posted = support_message(chat_bot)
    assert "… and 51 more" in posted.shown_text and len(posted.shown_text) < 4096


async def test_status_shows_a_running_deactivation(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    await approve(chat_bot)
    (status,) = await user.send("/status")
    until = shown_time(chat_bot.clock.now() + timedelta(hours=24))
    assert "temporarily off until " + until in status.shown_text


async def test_the_end_of_the_window_is_told_and_the_decision_keeps_its_devices(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    await approve(chat_bot, "4 h")
    decided = support_message(chat_bot)
    assert "Approved" in decided.shown_text and "• Phone" in decided.shown_text  # what was revoked
    chat_bot.clock.advance(hours=4, seconds=1)
    await chat_bot.run_job("support-sync")
    await chat_bot.run_job("notices")
    assert "has ended" in user.last().shown_text
    actions = [
        e.action
        for e in await chat_bot.app.bot_data["services"].db.run(lambda tx: tx.audit.entries())
    ]
    assert "deactivation_ended" in actions


async def test_after_the_window_everyone_is_told_a_new_device_is_needed(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    bo = chat_bot.user(2002, "Bo", "bo", language_code="de")
    await bo.send("/language")  # Bo's Telegram app speaks German
    await file_request(chat_bot, ann)
    svc = chat_bot.app.bot_data["services"]
    now = chat_bot.clock.now()
    await svc.db.run(lambda tx: tx.accounts.save_link(2002, "tg:1001", "bo", "Bo", now))
    await approve(chat_bot, "4 h")
    chat_bot.clock.advance(hours=4, seconds=1)
    await chat_bot.run_job("support-sync")
    await chat_bot.run_job("notices")
    told = ann.last().shown_text
    assert "has ended" in told and "2FA is required again" in told
    assert "every login is refused" in told and "/enroll" in told
    gesagt = bo.last().shown_text
    assert "2FA ist wieder erforderlich" in gesagt and "/enroll" in gesagt
    (checked,) = await ann.send("/check 123456")
    assert "no device" in checked.shown_text and "refused" in checked.shown_text
    assert "/enroll" in checked.shown_text
    (status,) = await ann.send("/status")
    assert "2FA is required" in status.shown_text and "not set up" not in status.shown_text
    for command in ("/devices", "/recovery"):
        (answer,) = await ann.send(command)
        assert "no device" in answer.shown_text and "not set up" not in answer.shown_text
    (lost,) = await ann.send("/lost")
    assert "no device left" in lost.shown_text and "/enroll" in lost.shown_text
    (looked_up,) = await in_support(chat_bot, AGENT).send("/lookup tg:1001")
    assert "2FA: required, no device: every login is refused" in looked_up.shown_text
    chat_bot.clock.advance(days=30)
    (later,) = await ann.send("/check 123456")
    assert later.shown_text == checked.shown_text
