"""One conversation at a time, through PTB's Application: a flow started while another
waits never takes the other's input, and the user can continue or drop what waits."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable

import pytest

from core.config import Settings
from demo.botapi import SimMessage
from tests.harness import ChatUser, Harness, code_for, enrol
from tests.helpers import decode_qr, parse_key_uri

SUPPORT = -100500
CONTINUE, DROP = "Continue", "Drop it, start the new one"


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, support_chat_id=SUPPORT)


async def waiting(chat_bot: Harness, user: ChatUser) -> tuple[str, str] | None:
    db = chat_bot.app.bot_data["services"].db
    found = await db.run(lambda tx: tx.conversations.get(user.user_id))
    return None if found is None else (found.flow, found.step)


async def press_on(user: ChatUser, command: str, label: str) -> list[SimMessage]:
    (message,) = await user.send(command)
    return await user.press(message, label)


# Each flow that waits for a typed answer: how a user starts it, what it asks, its slot.
Starter = Callable[[ChatUser], Awaitable[list[SimMessage]]]
FLOWS: dict[str, tuple[Starter, str, tuple[str, str]]] = {
    "enrol": (lambda u: u.send("/enroll"), "already has 2FA", ("enrol", "proof")),
    "check": (
        lambda u: u.send("/check"),
        "your authenticator app shows now",
        ("check", "code"),
    ),
    "rename": (
        lambda u: press_on(u, "/devices", "Rename Phone"),
        "To rename Phone",
        ("rename", "proof"),
    ),
    "remove": (
        lambda u: press_on(u, "/devices", "Remove Phone"),
        "To remove Phone",
        ("remove", "proof"),
    ),
    "new_codes": (
        lambda u: press_on(u, "/recovery", "New recovery codes"),
        "To get new recovery codes",
        ("new_codes", "proof"),
    ),
    "recover": (
        lambda u: press_on(u, "/lost", "Use a recovery code"),
        "Send one of your recovery codes",
        ("recover", "code"),
    ),
    "lost": (
        lambda u: press_on(u, "/lost", "Ask support"),
        "Support can turn 2FA off",
        ("lost", "reason"),
    ),
}


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(FLOWS, 2)))
async def test_a_flow_started_while_another_waits_says_what_waits_and_can_take_over(
    chat_bot: Harness, first: str, second: str
) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    start_first, asks_first, slot_first = FLOWS[first]
    start_second, asks_second, slot_second = FLOWS[second]
    assert any(asks_first in m.shown_text for m in await start_first(user))
    assert await waiting(chat_bot, user) == slot_first

    (busy,) = await start_second(user)
    assert busy.shown_text.startswith("You are ") and busy.shown_text.endswith(", or /cancel.")
    assert [label for label, _ in busy.buttons] == [CONTINUE, DROP]
    assert await waiting(chat_bot, user) == slot_first  # the waiting flow is untouched

    (again,) = await user.press(busy, CONTINUE)
    assert again.text == busy.text
    answer = await user.press(busy, DROP)
    assert answer[0].shown_text.startswith(("Stopped", "Set-up cancelled"))
    assert any(asks_second in m.shown_text for m in answer[1:])
    assert await waiting(chat_bot, user) == slot_second
    # The second flow now takes the answer: a current code where it asks for one.
    if slot_second[1] == "proof":
        taken = await user.send(code_for(chat_bot, secret))
        assert taken and not any(
            "not right" in (m.text or "") or "You are" in (m.text or "") for m in taken
        )


async def test_cancel_says_what_it_ended(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user, "Phone")
    await press_on(user, "/devices", "Rename Phone")
    (stopped,) = await user.send("/cancel")
    assert stopped.text == "Stopped renaming Phone. Nothing was changed."
    (nothing,) = await user.send("/cancel")
    assert nothing.text == "There is nothing to cancel."
    assert await waiting(chat_bot, user) is None


async def test_a_code_for_a_rename_does_not_burn_a_try_of_a_pending_enrolment(
    chat_bot: Harness,
) -> None:
    """A second device is pending at the code step; the user opens /devices -> Rename."""
    user = chat_bot.user()
    phone, _ = await enrol(user, "Phone")
    await user.send("/enroll")
    await user.send(code_for(chat_bot, phone))  # the proof: the QR of the new device comes
    assert await waiting(chat_bot, user) == ("enrol", "code")
    (busy,) = await press_on(user, "/devices", "Rename Phone")
    assert busy.text == (
        "You are setting up a new device: send the 6-digit code your app shows, or /cancel."
    )
    db = chat_bot.app.bot_data["services"].db
    before = await db.run(lambda tx: tx.enrolments.for_user(user.user_id))
    answer = await user.press(busy, DROP)
    assert answer[0].shown_text.startswith("Set-up cancelled")
    assert "To rename Phone" in answer[1].shown_text
    assert before is not None and before.attempts_left == 5
    chat_bot.clock.advance(seconds=30)
    (ask_name,) = await user.send(code_for(chat_bot, phone))
    assert "Code accepted" in ask_name.shown_text and "new name" in ask_name.shown_text
    (renamed,) = await user.send("Work phone")
    assert "Renamed to" in renamed.shown_text and "Work phone" in renamed.shown_text
    assert await db.run(lambda tx: tx.enrolments.for_user(user.user_id)) is None


async def test_a_recovery_code_never_becomes_a_device_name(chat_bot: Harness) -> None:
    """An enrolment waits for the device name; the user sends a recovery code."""
    user = chat_bot.user()
    phone, codes = await enrol(user, "Phone")
    await user.send("/enroll")
    photo = next(m for m in await user.send(code_for(chat_bot, phone)) if m.photo is not None)
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    chat_bot.clock.advance(seconds=30)
    await user.send(code_for(chat_bot, secret))
    assert await waiting(chat_bot, user) == ("enrol", "name")
    (busy,) = await press_on(user, "/lost", "Use a recovery code")
    assert busy.text == "You are setting up a new device: send a name for the device, or /cancel."
    (refused, voided) = await user.send(codes[0])
    assert "looks like a recovery code" in refused.shown_text
    assert "posted in a chat and has been voided (9 left)" in voided.shown_text  # not a proof
    typed = [m for m in chat_bot.state.user_messages(user.chat_id) if m.text == codes[0]]
    assert typed and typed[0].deleted
    db = chat_bot.app.bot_data["services"].db
    pending = await db.run(lambda tx: tx.enrolments.for_user(user.user_id))
    assert pending is not None and pending.device_name is None
    (summary,) = await user.send("Tablet")
    assert "Tablet" in summary.shown_text


async def test_a_recovery_grant_outlives_a_check_started_after_it(chat_bot: Harness) -> None:
    """The proof a recovery code gives is a grant of its own, not a prompt /check overwrites."""
    user = chat_bot.user()
    _, codes = await enrol(user, "Phone")
    await press_on(user, "/lost", "Use a recovery code")
    (recovered,) = await user.send(codes[0])
    assert "Recovery code accepted" in recovered.shown_text
    (ask,) = await user.send("/check")
    assert "6-digit code" in ask.shown_text
    await user.send("/cancel")
    answer = await user.press(recovered, "Set up a new device")
    assert any(m.photo is not None for m in answer)  # no code asked: the grant was used
    again = await user.press(recovered, "Set up a new device")
    assert not any("already has 2FA" in (m.text or "") for m in again)  # the same set-up resumes
