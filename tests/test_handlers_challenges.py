"""Approving a login in the chat, through PTB's real Application: the message each
manager gets, the buttons, the outcomes on every message, stale and forged presses,
German, the ops alert, /lookup."""

from __future__ import annotations

import dataclasses

import pytest

from core.challenges import Challenge
from core.config import Settings
from core.services import Services
from demo.botapi import SimMessage
from tests.harness import ChatUser, Harness, enrol

OPS = -100700
SUPPORT = -100777
AGENT = 4242
ACCOUNT = "tg:1001"
VPN = "api:vpn"


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        ops_chat_id=OPS,
        support_chat_id=SUPPORT,
        support_agent_ids=frozenset({AGENT}),
    )


def svc(chat_bot: Harness) -> Services:
    services: Services = chat_bot.app.bot_data["services"]
    return services


async def co_manager(chat_bot: Harness, user_id: int, language: str | None = None) -> ChatUser:
    user = chat_bot.user(user_id, "Bob", "bob", language_code=language)
    now = chat_bot.clock.now()
    await svc(chat_bot).db.run(
        lambda tx: tx.accounts.save_link(user_id, ACCOUNT, "bob", "Bob", now)
    )
    await user.send("/start")  # a chat with the chat_bot (and the app's language learnt)
    return user


async def asked(chat_bot: Harness, match_number: bool = True, **context: str) -> Challenge:
    opened = await svc(chat_bot).challenges.open(
        ACCOUNT, dict(context), actor=VPN, match_number=match_number
    )
    assert opened.challenge is not None, opened
    await chat_bot.run_job("challenges")
    return opened.challenge


def challenge_message(user: ChatUser) -> SimMessage:
    return user.last()


def labels(message: SimMessage) -> list[str]:
    return [label for label, _ in message.buttons]


async def status(chat_bot: Harness, challenge: Challenge) -> str:
    reading = await svc(chat_bot).challenges.read(challenge.id, actor=VPN)
    assert reading is not None
    return reading.status.value


async def test_the_message_shows_the_context_as_text_and_three_numbers(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot, app="<b>VPN</b>", ip="203.0.113.7", location="Berlin, DE")
    message = challenge_message(ann)
    text = message.shown_text
    assert "Is this you, logging in?" in text
    assert "App: <b>VPN</b>" in text  # the tags as text: escaped, never rendered
    assert "Address: 203.0.113.7" in text and "Place: Berlin, DE" in text
    assert "Account: tg:1001" in text
    assert "Time: " in text and "press the number your login screen shows" in text
    numbers = labels(message)[:3]
    assert sorted(numbers) == sorted(challenge.choices) and challenge.number in numbers
    assert labels(message)[3:] == ["This wasn't me"]


async def test_the_right_number_approves_and_every_recipient_sees_it(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    bob = await co_manager(chat_bot, 1002)
    challenge = await asked(chat_bot, app="VPN")
    assert challenge.number is not None
    await ann.press(challenge_message(ann), challenge.number)
    assert ann.last_answer["text"] == "Approved."
    assert await status(chat_bot, challenge) == "accepted"
    for user in (ann, bob):
        message = challenge_message(user)
        assert "Approved" in message.shown_text and "the login goes on" in message.shown_text
        assert message.buttons == []
    # a press on Bob's message (its buttons are gone: the old data, pressed again)
    before = [m.revision for m in bob.messages()]
    await bob.press_data(challenge_message(bob), f"v1:chl:{challenge.id}.no")
    assert bob.last_answer["text"] == "This button is no longer valid."
    assert [m.revision for m in bob.messages()] == before


async def test_a_wrong_number_declines(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot)
    wrong = next(n for n in challenge.choices if n != challenge.number)
    await ann.press(challenge_message(ann), wrong)
    assert ann.last_answer["text"] == "Wrong number: the login was refused."
    assert "Declined" in challenge_message(ann).shown_text
    assert await status(chat_bot, challenge) == "declined"


async def test_this_wasnt_me_declines_tells_to_change_the_password_and_alerts_ops(
    chat_bot: Harness,
) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot, app="VPN", ip="203.0.113.7", location="Berlin, DE")
    await ann.press(challenge_message(ann), "This wasn't me")
    assert ann.last_answer["text"] == "Reported. Change your password now."
    text = challenge_message(ann).shown_text
    assert "Reported" in text and "Change your password now" in text
    assert await status(chat_bot, challenge) == "declined"
    await chat_bot.run_job("alerts")
    (alert,) = [m for m in chat_bot.state.messages(OPS) if "This wasn't me" in m.content]
    for fact in ("WARNING", "tg:1001", "client: vpn", "app: VPN", "ip: 203.0.113.7"):
        assert fact in alert.shown_text
    assert "location: Berlin, DE" in alert.shown_text


async def test_an_expired_challenge_says_so_and_its_buttons_do_nothing(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot)
    message = challenge_message(ann)
    chat_bot.clock.advance(seconds=61)
    await chat_bot.run_job("challenges")
    assert "Expired" in challenge_message(ann).shown_text
    assert challenge_message(ann).buttons == []
    assert challenge.number is not None
    await ann.press_data(message, f"v1:chl:{challenge.id}.{challenge.number}")
    assert ann.last_answer["text"] == "This button is no longer valid."
    assert await status(chat_bot, challenge) == "expired"


async def test_a_cancelled_challenge_says_so(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot)
    await svc(chat_bot).challenges.cancel(challenge.id, actor=VPN)
    await chat_bot.run_job("challenges")
    assert "cancelled" in challenge_message(ann).shown_text
    assert challenge_message(ann).buttons == []


async def test_forged_presses_are_answered_and_ignored(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot)
    assert challenge.number is not None
    right = f"v1:chl:{challenge.id}.{challenge.number}"
    # someone who does not manage the account, pressing on a message of their own
    eve = chat_bot.user(1666, "Eve", "eve")
    (hello,) = await eve.send("/start")
    await eve.press_data(hello, right)
    assert eve.last_answer["text"] == "This button is no longer valid."
    # data the message does not show
    await ann.press_data(challenge_message(ann), f"v1:chl:{challenge.id}.ok")
    assert ann.last_answer["text"] == "This button is no longer valid."
    await ann.press_data(challenge_message(ann), "v1:chl:garbage")
    assert ann.last_answer["text"] == "This button is no longer valid."
    assert await status(chat_bot, challenge) == "pending"
    assert len(labels(challenge_message(ann))) == 4


async def test_a_plain_approval_has_approve_and_this_wasnt_me(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot, match_number=False, app="RADIUS")
    message = challenge_message(ann)
    assert labels(message) == ["Approve", "This wasn't me"]
    assert "press <b>Approve</b>" not in message.shown_text  # rendered as HTML
    assert "press Approve" in message.shown_text
    await ann.press(message, "Approve")
    assert await status(chat_bot, challenge) == "accepted"


async def test_each_recipient_reads_it_in_their_language(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    bob = await co_manager(chat_bot, 1002, language="de")
    challenge = await asked(chat_bot, app="VPN")
    german = challenge_message(bob)
    assert "Melden Sie sich gerade an?" in german.shown_text
    assert labels(german)[3:] == ["Das war ich nicht"]
    assert "Is this you" in challenge_message(ann).shown_text
    await bob.press(german, "Das war ich nicht")
    assert bob.last_answer["text"] == "Gemeldet. Ändern Sie jetzt Ihr Passwort."
    assert "Ändern Sie jetzt Ihr Passwort" in challenge_message(bob).shown_text
    assert "Change your password now" in challenge_message(ann).shown_text
    assert await status(chat_bot, challenge) == "declined"


async def test_a_message_is_sent_once_per_recipient(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    await asked(chat_bot)
    await chat_bot.run_job("challenges")
    await chat_bot.run_job("challenges")
    assert sum("Is this you" in m.content for m in ann.messages()) == 1


async def test_lookup_shows_recent_challenges(chat_bot: Harness) -> None:
    ann = chat_bot.user()
    await enrol(ann)
    challenge = await asked(chat_bot, app="VPN")
    assert challenge.number is not None
    await ann.press(challenge_message(ann), challenge.number)
    agent = chat_bot.group_member(AGENT, SUPPORT)
    (answer,) = await agent.send(f"/lookup {ACCOUNT}")
    assert "Recent login approvals in the chat:" in answer.shown_text
    assert "approved via vpn (VPN)" in answer.shown_text
