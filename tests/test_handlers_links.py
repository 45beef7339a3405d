"""Who manages an account, through PTB's Application: an enrolment link binds a second
Telegram user to an account with 2FA only after a current code (or a recovery code),
everyone already linked is told, /status lists the people and one can remove another."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import Settings
from tests.harness import (
    ACCOUNT,
    SUPPORT,
    Harness,
    code_for,
    enrol,
    file_request,
    mint,
    owner,
    support_message,
    wrong,
)


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, support_chat_id=SUPPORT)


async def manages(chat_bot: Harness, user_id: int) -> str | None:
    db = chat_bot.app.bot_data["services"].db
    link = await db.run(lambda tx: tx.accounts.link_for(user_id))
    return None if link is None else link.account_id


async def test_a_second_link_asks_for_a_code_before_binding(chat_bot: Harness) -> None:
    ann, secret = await owner(chat_bot)
    await chat_bot.run_job("notices")  # "a device was added": for Ann alone, before Bo came
    bo = chat_bot.user(2002, "Bo", "bo")
    (ask,) = await bo.send(f"/start {await mint(chat_bot)}")
    assert (
        ACCOUNT in ask.shown_text
        and "has 2FA" in ask.shown_text
        and "recovery code" in ask.shown_text
    )
    assert await manages(chat_bot, 2002) is None
    (refused,) = await bo.send(wrong(chat_bot, secret))
    assert "not right" in refused.shown_text and "Nothing was changed" in refused.shown_text
    assert await manages(chat_bot, 2002) is None
    (bound,) = await bo.send(code_for(chat_bot, secret))
    assert "now manages" in bound.shown_text and ACCOUNT in bound.shown_text
    assert await manages(chat_bot, 2002) == ACCOUNT
    typed = [m for m in chat_bot.state.user_messages(bo.chat_id) if m.text and m.text.isdigit()]
    assert typed and all(m.deleted for m in typed)
    await chat_bot.run_job("notices")
    told = ann.last().shown_text
    assert "Bo" in told and "@bo" in told and ACCOUNT in told and "/status" in told
    assert bo.last().message_id == bound.message_id  # Bo is not told about himself


async def test_a_recovery_code_also_proves_a_link_and_the_link_works_once(
    chat_bot: Harness,
) -> None:
    ann = chat_bot.user(1001, "Ann")
    _, codes = await enrol(ann, "Phone")
    token = await mint(chat_bot, "tg:1001")
    bo = chat_bot.user(2002, "Bo")
    await bo.send(f"/start {token}")
    (bound,) = await bo.send(codes[0])
    assert "now manages" in bound.shown_text
    assert await manages(chat_bot, 2002) == "tg:1001"
    (reuse,) = await chat_bot.user(3003, "Cy").send(f"/start {token}")
    assert "already used" in reuse.shown_text
    assert await manages(chat_bot, 3003) != "tg:1001"


async def test_a_lock_at_the_link_code_binds_nothing(chat_bot: Harness) -> None:
    _, secret = await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo")
    await bo.send(f"/start {await mint(chat_bot)}")
    bad = wrong(chat_bot, secret)
    answers = [await bo.send(bad) for _ in range(5)]
    assert "locked until" in answers[-1][0].shown_text
    (after,) = await bo.send(code_for(chat_bot, secret))
    assert "not sure what you mean" in after.shown_text  # the lock ended the wait
    assert await manages(chat_bot, 2002) is None


async def test_cancel_at_the_link_code_voids_the_link(chat_bot: Harness) -> None:
    await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo")
    token = await mint(chat_bot)
    await bo.send(f"/start {token}")
    (stopped,) = await bo.send("/cancel")
    assert "no longer works" in stopped.shown_text
    (again,) = await bo.send(f"/start {token}")
    assert "no longer works" in again.shown_text


async def test_a_link_opened_while_another_flow_waits_can_take_over(chat_bot: Harness) -> None:
    _, secret = await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo")
    await enrol(bo)  # tg:2002 has a device of its own
    await bo.send("/check")
    (question,) = await bo.send(f"/start {await mint(chat_bot)}")
    (busy,) = await bo.press(question, "Switch")
    assert "checking a code" in busy.shown_text
    answer = await bo.press(busy, "Drop it, start the new one")
    assert any("has 2FA" in m.shown_text for m in answer)
    (bound,) = await bo.send(code_for(chat_bot, secret))
    assert "now manages" in bound.shown_text
    assert await manages(chat_bot, 2002) == ACCOUNT


async def test_keep_voids_the_link(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user)  # tg:1001 has a device
    token = await mint(chat_bot)
    (question,) = await user.send(f"/start {token}")
    await user.press(question, "Keep the current account")
    kept = chat_bot.state.message(user.chat_id, question.message_id)
    assert kept is not None and "still manages" in kept.shown_text and kept.buttons == []
    (again,) = await user.send(f"/start {token}")
    assert "no longer works" in again.shown_text
    assert await manages(chat_bot, 1001) == "tg:1001"


async def test_status_lists_who_manages_and_one_can_remove_another_after_a_code(
    chat_bot: Harness,
) -> None:
    ann, secret = await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo", "bo")
    await bo.send(f"/start {await mint(chat_bot)}")
    await bo.send(code_for(chat_bot, secret))
    chat_bot.clock.advance(seconds=60)
    (status,) = await ann.send("/status")
    assert "Ann" in status.shown_text and "Bo" in status.shown_text and "since" in status.shown_text
    assert "Remove Bo" in [label for label, _ in status.buttons]
    assert "Remove Ann" not in [label for label, _ in status.buttons]
    (ask,) = await ann.press(status, "Remove Bo")
    assert "To remove Bo" in ask.shown_text and "6-digit code" in ask.shown_text
    (refused,) = await ann.send(wrong(chat_bot, secret))
    assert "not right" in refused.shown_text
    assert await manages(chat_bot, 2002) == ACCOUNT
    (removed,) = await ann.send(code_for(chat_bot, secret))
    assert "Bo" in removed.shown_text and "no longer manages" in removed.shown_text
    assert await manages(chat_bot, 2002) == "tg:2002"
    await chat_bot.run_job("notices")
    assert "no longer manage" in bo.last().shown_text and ACCOUNT in bo.last().shown_text
    (status,) = await bo.send("/status")
    assert ACCOUNT not in status.shown_text


async def test_a_stale_remove_button_does_nothing(chat_bot: Harness) -> None:
    ann, secret = await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo", "bo")
    await bo.send(f"/start {await mint(chat_bot)}")
    await bo.send(code_for(chat_bot, secret))
    (status,) = await ann.send("/status")
    # Bo leaves for an account of his own through a link of his own.
    (question,) = await bo.send(f"/start {await mint(chat_bot, 'bo@example.com')}")
    await bo.press(question, "Switch")
    assert await manages(chat_bot, 2002) == "bo@example.com"
    assert await ann.press(status, "Remove Bo") == []
    assert ann.last_answer["text"] == "This button is no longer valid."


async def test_the_support_message_shows_since_when_the_requester_manages_the_account(
    chat_bot: Harness,
) -> None:
    user = chat_bot.user(1001, "Ann", "ann")
    chat_bot.clock.advance(days=3)
    await file_request(chat_bot, user)
    text = support_message(chat_bot).shown_text
    assert "Linked to this account since: 4 March 2026, 09:00 UTC" in text


async def test_a_link_to_the_account_one_already_manages_tells_nobody_again(
    chat_bot: Harness,
) -> None:
    ann, secret = await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo", "bo")
    await bo.send(f"/start {await mint(chat_bot)}")
    await bo.send(code_for(chat_bot, secret))
    await chat_bot.run_job("notices")
    told = len(ann.messages())
    await bo.send(f"/start {await mint(chat_bot)}")  # Bo manages it already: no code, no news
    await bo.send("/cancel")
    await chat_bot.run_job("notices")
    assert len(ann.messages()) == told
