"""Everyone who manages an account from Telegram hears of what another of them did to it,
through PTB's Application, each in their own language: a deactivation request (with a
button to withdraw it, which a co-manager may use) and a new set of recovery codes (which
voids the codes they may have saved)."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import Settings
from demo.botapi import SimMessage
from tests.harness import (
    ACCOUNT,
    AGENT,
    ChatUser,
    Harness,
    code_for,
    in_support,
    mint,
    owner,
    support_message,
)
from tests.helpers import CODE

SUPPORT = -100500

WORDS = {
    "en": {
        "asked": f"🆘 Ann asked support to turn 2FA off for {ACCOUNT} for a while (request #1)",
        "reason": "Their reason: Phone lost on a trip.",
        "withdraw": "Withdraw the request",
        "withdrawn": "Request #1 withdrawn. 2FA stays as it is.",
        "renewed": f"🔑 Ann got a new set of recovery codes for {ACCOUNT}",
        "voided": "the earlier codes no longer work, also any you saved",
    },
    "de": {
        "asked": (
            f"🆘 Ann hat den Support gebeten, die 2FA für {ACCOUNT} vorübergehend "
            "auszuschalten (Antrag #1)"
        ),
        "reason": "Begründung: Phone lost on a trip.",
        "withdraw": "Antrag zurückziehen",
        "withdrawn": "Antrag #1 zurückgezogen. 2FA bleibt unverändert.",
        "renewed": f"🔑 Ann hat neue Wiederherstellungscodes für {ACCOUNT} erstellt",
        "voided": "die bisherigen Codes gelten nicht mehr, auch die von Ihnen gespeicherten",
    },
}


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, support_chat_id=SUPPORT, support_agent_ids=frozenset({AGENT})
    )


async def ann_and_bo(chat_bot: Harness, language: str) -> tuple[ChatUser, ChatUser, str]:
    """Ann manages ACCOUNT with a device; Bo (reading ``language``) joined with her code."""
    ann, secret = await owner(chat_bot)
    bo = chat_bot.user(2002, "Bo", "bo", language_code=language)
    await bo.send(f"/start {await mint(chat_bot)}")
    await bo.send(code_for(chat_bot, secret))
    await chat_bot.run_job("notices")
    chat_bot.clock.advance(seconds=90)
    return ann, bo, secret


async def ann_files(ann: ChatUser) -> SimMessage:
    (choice,) = await ann.send("/lost")
    (_,) = await ann.press(choice, "Ask support")
    (preview,) = await ann.send("Phone lost on a trip")
    (filed,) = [m for m in await ann.press(preview, "Send to support") if "#1" in m.content]
    return filed


@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_co_manager_is_told_of_a_request_and_may_withdraw_it(
    chat_bot: Harness, language: str
) -> None:
    words = WORDS[language]
    ann, bo, _ = await ann_and_bo(chat_bot, language)
    seen = len(ann.messages())
    filed = await ann_files(ann)
    await chat_bot.run_job("notices")
    told = bo.last()
    assert told.shown_text.startswith(words["asked"]) and words["reason"] in told.shown_text
    assert [label for label, _ in told.buttons] == [words["withdraw"]]
    assert not any("#1" in m.content for m in ann.messages()[seen:] if m is not filed)

    (done,) = await bo.press(told, words["withdraw"])
    assert done.message_id == told.message_id and done.shown_text == words["withdrawn"]
    posted = support_message(chat_bot)
    assert "Withdrawn" in posted.shown_text and posted.buttons == []
    await chat_bot.run_job("notices")
    assert f"Bo withdrew request #1 to turn 2FA off for {ACCOUNT}" in ann.last().shown_text
    agent = in_support(chat_bot, AGENT)
    await agent.press_data(posted, "v1:req.ap:1")
    assert "already withdrawn" in agent.last_answer["text"]


async def test_only_someone_on_the_account_may_withdraw_its_request(chat_bot: Harness) -> None:
    ann, bo, _ = await ann_and_bo(chat_bot, "en")
    await ann_files(ann)
    await chat_bot.run_job("notices")
    told = bo.last()
    # Bo leaves for an account of his own: the button in his chat no longer works.
    (question,) = await bo.send(f"/start {await mint(chat_bot, 'bo@example.com')}")
    await bo.press(question, "Switch")
    assert await bo.press(told, "Withdraw the request") == []
    assert bo.last_answer["text"] == "This button is no longer valid."
    assert "Withdrawn" not in support_message(chat_bot).shown_text


@pytest.mark.parametrize("language", ["en", "de"])
async def test_a_co_manager_is_told_that_new_recovery_codes_void_the_old_ones(
    chat_bot: Harness, language: str
) -> None:
    words = WORDS[language]
    ann, bo, secret = await ann_and_bo(chat_bot, language)
    (status,) = await ann.send("/recovery")
    await ann.press(status, "New recovery codes")
    answer = await ann.send(code_for(chat_bot, secret))
    assert any(CODE.search(m.content) for m in answer)
    await chat_bot.run_job("notices")
    told = bo.last().shown_text
    assert told.startswith(words["renewed"]) and words["voided"] in told
    assert "/recovery" in told
    assert not any(words["renewed"] in m.content for m in ann.messages())
