"""Agents' commands in the support chat through PTB's Application: /queue, /lookup,
/unlock, and the admins' /agents."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from core.clients import Scope
from core.config import Settings
from storage.records import AccountSecurity
from tests.harness import (
    ADMIN,
    AGENT,
    BYSTANDER,
    OTHER_AGENT,
    SUPPORT,
    Harness,
    code_for,
    enrol,
    file_request,
    in_support,
    support_message,
    wrong,
)


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        support_chat_id=SUPPORT,
        support_agent_ids=frozenset({AGENT, OTHER_AGENT}),
        admin_user_ids=frozenset({ADMIN}),
    )


async def test_queue_lists_open_requests_oldest_first(chat_bot: Harness) -> None:
    await file_request(chat_bot, chat_bot.user(1001))
    chat_bot.clock.advance(minutes=30)
    await file_request(chat_bot, chat_bot.user(1002, "Bo"))
    chat_bot.clock.advance(minutes=5)
    (queue,) = await in_support(chat_bot, AGENT).send("/queue")
    lines = queue.shown_text.splitlines()
    assert lines[0] == "Open requests (oldest first)"
    assert "#1" in lines[1] and "waiting 36 min" in lines[1]  # 30 min + 90 s enrolling + 5 min
    assert "#2" in lines[2] and "waiting 5 min" in lines[2]
    (refused,) = await in_support(chat_bot, BYSTANDER).send("/queue")
    assert "Only support agents" in refused.shown_text


async def test_admin_adds_an_agent_who_can_then_decide(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await file_request(chat_bot, user)
    newcomer = in_support(chat_bot, 7777)
    await newcomer.press(support_message(chat_bot), "Approve")
    assert newcomer.last_answer["text"] == "Only support agents can decide."
    admin = chat_bot.user(ADMIN, "Root")
    (added,) = await admin.send("/agents add 7777")
    assert "now a support agent" in added.shown_text
    (listing,) = await admin.send("/agents")
    assert "7777" in listing.shown_text and "9001" in listing.shown_text
    await newcomer.press(support_message(chat_bot), "Approve")
    await newcomer.press(support_message(chat_bot), "4 h")
    assert "Approved" in support_message(chat_bot).shown_text
    (removed,) = await admin.send("/agents remove 7777")
    assert "no longer" in removed.shown_text
    (refused,) = await chat_bot.user(1234).send("/agents add 1")
    assert "Only admins" in refused.shown_text


@pytest.mark.parametrize("arg", ["--5", "²", "12a", "-7"])
async def test_agents_command_refuses_malformed_ids(chat_bot: Harness, arg: str) -> None:
    (answer,) = await chat_bot.user(ADMIN, "Root").send(f"/agents add {arg}")
    assert "Usage" in answer.shown_text


async def test_lookup_shows_an_account_to_agents(chat_bot: Harness) -> None:
    user = chat_bot.user(1001, "Ann", "ann")
    await file_request(chat_bot, user)
    agent = in_support(chat_bot, AGENT)
    for query in ("tg:1001", "1001"):
        (found,) = await agent.send(f"/lookup {query}")
        for part in ("tg:1001", "@ann", "Phone", "Lock: none", "2FA: required", "#1 open"):
            assert part in found.shown_text
    (none,) = await agent.send("/lookup nobody@example.com")
    assert "Nothing known" in none.shown_text
    (refused,) = await in_support(chat_bot, BYSTANDER).send("/lookup tg:1001")
    assert "Only support agents" in refused.shown_text


@pytest.mark.parametrize("query", ["²", "99999999999999999999", "١٢٣"])
async def test_lookup_of_a_malformed_user_id_is_answered_as_bad_input(
    chat_bot: Harness, query: str, caplog: pytest.LogCaptureFixture
) -> None:
    agent = in_support(chat_bot, AGENT)
    with caplog.at_level(logging.ERROR):
        (answer,) = await agent.send(f"/lookup {query}")
    assert "neither an account id nor a Telegram user id" in answer.shown_text
    assert "Usage: /lookup" in answer.shown_text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []  # no bot_error


async def test_unlock_clears_the_100_failure_block(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    verifier = chat_bot.app.bot_data["services"].verification
    bad = "000000" if code_for(chat_bot, secret) != "000000" else "111111"
    for _ in range(100):
        verdict = await verifier.verify("tg:1001", bad, actor="api")
        if verdict.locked_until is not None:
            chat_bot.clock.set(verdict.locked_until)
    assert verdict.hard_locked
    agent = in_support(chat_bot, AGENT)
    (found,) = await agent.send("/lookup tg:1001")
    assert "blocked after 100 failures" in found.shown_text
    (done,) = await agent.send("/unlock tg:1001")
    assert "cleared" in done.shown_text
    assert (
        await verifier.verify("tg:1001", code_for(chat_bot, secret), actor="api")
    ).result.value == ("accepted")
    (again,) = await agent.send("/unlock tg:1001")
    assert "is not locked" in again.shown_text


async def test_an_agent_cannot_unlock_their_own_account(chat_bot: Harness) -> None:
    agent_as_user = chat_bot.user(AGENT, "Agnes")
    secret, _ = await enrol(agent_as_user)
    bad = wrong(chat_bot, secret)
    for _ in range(5):
        await agent_as_user.send(f"/check {bad}")
    agent = in_support(chat_bot, AGENT)
    (refused,) = await agent.send(f"/unlock tg:{AGENT}")
    assert refused.text == "You cannot unlock your own account."
    (found,) = await agent.send(f"/lookup tg:{AGENT}")
    assert "Lock: locked until" in found.shown_text  # nothing changed
    (done,) = await in_support(chat_bot, OTHER_AGENT).send(f"/unlock tg:{AGENT}")
    assert "cleared" in done.shown_text  # another agent can


async def bind_by_link(chat_bot: Harness, account: str, user_id: int) -> None:
    """``user_id`` manages ``account`` (minted through the core as the API would)."""
    minted = await chat_bot.app.bot_data["services"].links.mint(account)
    await chat_bot.user(user_id, "Jane").send(f"/start {minted.token}")


async def test_lookup_takes_the_rest_of_the_line_as_the_account(chat_bot: Harness) -> None:
    await bind_by_link(chat_bot, "Jane Doe", 1005)
    agent = in_support(chat_bot, AGENT)
    (found,) = await agent.send("/lookup   Jane Doe  ")
    assert found.shown_text.startswith("Jane Doe\n") and "(1005)" in found.shown_text
    (none,) = await agent.send("/lookup Jane  Doe")  # ids are opaque: no spaces folded
    assert "Nothing known about Jane  Doe" in none.shown_text
    (usage,) = await agent.send("/lookup")
    assert "Usage: /lookup" in usage.shown_text
    (long,) = await agent.send("/lookup " + "x" * 3000)  # no account id is that long
    assert "neither an account id" in long.shown_text and len(long.shown_text) < 400


async def test_lookup_and_unlock_normalise_what_the_agent_types(chat_bot: Harness) -> None:
    """An agent who types a decomposed é finds the account the API stores (NFC)."""
    await bind_by_link(chat_bot, "jos\u00e9@example.com", 1006)
    services = chat_bot.app.bot_data["services"]
    await services.db.run(
        lambda tx: tx.security.save(
            AccountSecurity("jos\u00e9@example.com", consecutive_failures=5), chat_bot.clock.now()
        )
    )
    agent = in_support(chat_bot, AGENT)
    (found,) = await agent.send("/lookup jose\u0301@example.com")
    assert found.shown_text.startswith("jos\u00e9@example.com\n")
    (done,) = await agent.send("/unlock jose\u0301@example.com")
    assert "cleared" in done.shown_text
    state = await services.db.run(lambda tx: tx.security.get("jos\u00e9@example.com"))
    assert state.consecutive_failures == 0


async def test_unlock_takes_the_rest_of_the_line_and_refuses_what_is_no_account_id(
    chat_bot: Harness,
) -> None:
    await bind_by_link(chat_bot, "Jane Doe", 1005)
    services = chat_bot.app.bot_data["services"]
    await services.db.run(
        lambda tx: tx.security.save(
            AccountSecurity("Jane Doe", consecutive_failures=5), chat_bot.clock.now()
        )
    )
    agent = in_support(chat_bot, AGENT)
    (done,) = await agent.send("/unlock Jane Doe")
    assert done.shown_text == "The lock on Jane Doe is cleared; its codes work again."
    (bad,) = await agent.send("/unlock Jane\u200bDoe")  # a zero-width space: never an id
    assert "is not an account id" in bad.shown_text
    (refused,) = await in_support(chat_bot, BYSTANDER).send("/unlock Jane Doe")
    assert "Only support agents" in refused.shown_text


async def test_lookup_shows_the_recent_checks_and_which_client_asked(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user)
    services = chat_bot.app.bot_data["services"]
    vpn = (await services.clients.add("vpn", frozenset({Scope.VERIFY}))).token
    client = await services.clients.authenticate(vpn)
    await services.verification.verify("tg:1001", code_for(chat_bot, secret), actor=client.actor)
    chat_bot.clock.advance(seconds=60)
    await user.send(f"/check {wrong(chat_bot, secret)}")
    (found,) = await in_support(chat_bot, AGENT).send("/lookup tg:1001")
    lines = found.shown_text.splitlines()
    recent = lines[lines.index("Recent checks:") + 1 :]
    assert len(recent) == 2
    assert recent[0].startswith("• ") and recent[0].endswith(": rejected in the chat")
    assert recent[1].endswith(": accepted via vpn")
