"""Handler tests: python-telegram-bot's real Application, a simulated Bot API, no network.

Updates go through ``Application.process_update`` (as PTB's own tests do), and the
bot's calls go through ``FakeBotApiRequest`` into a ``BotApiState`` that records what
a user would see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from core.clock import FakeClock
from core.config import Settings
from demo.botapi import BotApiState, FakeBotApiRequest, SimMessage
from tests.helpers import CODE, app_code, decode_qr, parse_key_uri

BOT_ID = 123456
BOT_USERNAME = "twofa_desk_bot"
# The support and ops chats of the handler tests, and the people in them.
SUPPORT, OPS = -100500, -100700
AGENT, OTHER_AGENT, ADMIN, BYSTANDER = 9001, 9002, 9999, 8000
ACCOUNT = "anna@example.com"  # an account of the login system, bound through links
API_TOKEN = "api-test-token-0123456789abcdef-0123456789"


class ChatUser:
    """A simulated Telegram user in a private chat with the bot (or in a group)."""

    def __init__(self, harness: Harness, user_id: int, chat_id: int | None = None) -> None:
        self.harness = harness
        self.user_id = user_id
        self.chat_id = chat_id if chat_id is not None else user_id

    @property
    def _group(self) -> int | None:
        return None if self.chat_id == self.user_id else self.chat_id

    async def send(self, text: str) -> list[SimMessage]:
        """Send a text; return the bot messages sent or edited in answer."""
        return await self.harness.feed(
            self.chat_id, self.harness.state.send_text(self.user_id, text, self._group)
        )

    async def send_sticker(self) -> list[SimMessage]:
        return await self.harness.feed(
            self.chat_id, self.harness.state.send_sticker(self.user_id, self._group)
        )

    async def send_photo(self) -> list[SimMessage]:
        return await self.harness.feed(
            self.chat_id, self.harness.state.send_photo_from_user(self.user_id, self._group)
        )

    async def press(self, message: SimMessage, label: str) -> list[SimMessage]:
        """Press the button with this label on a bot message."""
        data = dict(message.buttons)[label]
        return await self.press_data(message, data)

    async def press_data(self, message: SimMessage, data: str) -> list[SimMessage]:
        update = self.harness.state.press_button(
            self.user_id, message.message_id, data, self._group
        )
        self.last_query_id = update["callback_query"]["id"]
        return await self.harness.feed(self.chat_id, update)

    @property
    def last_answer(self) -> dict[str, Any]:
        """How the bot answered the last button press (the toast the user saw)."""
        return self.harness.state.callback_answers[self.last_query_id]

    def messages(self, include_deleted: bool = False) -> list[SimMessage]:
        return self.harness.state.messages(self.chat_id, include_deleted=include_deleted)

    def last(self) -> SimMessage:
        message = self.harness.state.last_message(self.chat_id)
        assert message is not None
        return message


class Harness:
    def __init__(self, app: Application, state: BotApiState, clock: FakeClock) -> None:
        self.app = app
        self.state = state
        self.clock = clock

    def user(
        self,
        user_id: int = 1001,
        first_name: str = "Ann",
        username: str | None = "ann",
        language_code: str | None = None,
    ) -> ChatUser:
        """A user in a private chat; ``language_code`` is their Telegram app's language
        (sent with every update from them; "en" unless given)."""
        self.state.user(user_id, first_name, username, language_code=language_code)
        return ChatUser(self, user_id)

    def group_member(self, user_id: int, chat_id: int = -100777) -> ChatUser:
        self.state.user(user_id)
        self.state.group(chat_id, "Support")
        return ChatUser(self, user_id, chat_id)

    async def feed(self, chat_id: int, update: dict[str, Any]) -> list[SimMessage]:
        before = self.state.revision
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return [m for m in self.state.messages(chat_id) if m.revision > before]

    async def run_job(self, name: str) -> None:
        assert self.app.job_queue is not None  # python-telegram-bot[job-queue] is a dependency
        (job,) = self.app.job_queue.get_jobs_by_name(name)
        await job.run(self.app)


@asynccontextmanager
async def running_bot(settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    """The bot as ``python -m bot`` builds it, with the Bot API simulated in memory."""
    state = BotApiState(
        token=settings.telegram_bot_token,
        bot_id=BOT_ID,
        bot_username=BOT_USERNAME,
        queue_updates=False,
    )
    app = build_application(settings, clock=clock, request=FakeBotApiRequest(state))
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    try:
        yield Harness(app, state, clock)
    finally:
        # The order python-telegram-bot's run_polling uses.
        assert app.post_stop is not None
        await app.post_stop(app)
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)


# ------------------------------------------------- what a user does in the private chat


def code_for(harness: Harness, secret: str, steps: int = 0) -> str:
    """The code the user's app shows at the harness's time (``steps`` of 30 s later)."""
    return app_code(secret, harness.clock.now().timestamp() + 30 * steps)


def wrong(harness: Harness, secret: str) -> str:
    """A 6-digit code that is not valid now, nor a step before or after."""
    valid = {code_for(harness, secret, s) for s in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


async def scan_qr(user: ChatUser) -> tuple[SimMessage, str]:
    """/enroll, then read the QR as the authenticator app would: (photo message, secret)."""
    (photo,) = [m for m in await user.send("/enroll") if m.photo is not None]
    return photo, parse_key_uri(decode_qr(photo.shown_photo))["secret"]


async def at_summary(user: ChatUser, name: str = "Phone") -> tuple[SimMessage, SimMessage]:
    """/enroll, the code, a name: (the QR photo, the summary with Complete activation)."""
    photo, secret = await scan_qr(user)
    await user.send(code_for(user.harness, secret))
    (summary,) = await user.send(name)
    return photo, summary


async def enrol(
    user: ChatUser,
    name: str = "Phone",
    *,
    proof_secret: str | None = None,
    complete: str = "Complete activation",
) -> tuple[str, list[str]]:
    """Set up a device through the chat (proving with another device's code when the
    account has one), pressing ``complete`` (the button's label in the user's language),
    then 90 s later, past the confirmation code's window: (its secret, the recovery codes
    shown, if any)."""
    harness = user.harness
    if proof_secret is None:
        photo, summary = await at_summary(user, name)
    else:
        (ask,) = await user.send("/enroll")
        assert "already has 2FA" in ask.shown_text
        answer = await user.send(code_for(harness, proof_secret))
        photo = next(m for m in answer if m.photo is not None)
        secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
        await user.send(code_for(harness, secret))
        (summary,) = await user.send(name)
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    answer = await user.press(summary, complete)
    codes = [
        c for m in answer if "recovery codes" in m.shown_text for c in CODE.findall(m.shown_text)
    ]
    harness.clock.advance(seconds=90)
    return secret, codes


async def mint(harness: Harness, account: str = ACCOUNT) -> str:
    """A new enrolment link for ``account``, as the login system asks for one: its token."""
    return (await harness.app.bot_data["services"].links.mint(account)).token


async def owner(harness: Harness) -> tuple[ChatUser, str]:
    """Ann manages ACCOUNT (opened its first link) and has a device: (Ann, its secret)."""
    ann = harness.user(1001, "Ann", "ann")
    await ann.send(f"/start {await mint(harness)}")
    await ann.send("/cancel")
    secret, _ = await enrol(ann)
    return ann, secret


# ----------------------------------------------------------- the support chat (SUPPORT)


def in_support(harness: Harness, user_id: int) -> ChatUser:
    return harness.group_member(user_id, SUPPORT)


def support_message(harness: Harness) -> SimMessage:
    """The deactivation request's message in the support chat."""
    (message,) = [
        m for m in harness.state.messages(SUPPORT) if "Deactivation request" in m.shown_text
    ]
    return message


async def file_request(
    harness: Harness, user: ChatUser, reason: str = "Phone lost on a trip"
) -> str:
    """The user enrols, then asks support to turn 2FA off (/lost): their secret."""
    secret, _ = await enrol(user)
    (choice,) = await user.send("/lost")
    assert "recovery codes" in choice.shown_text
    assert [label for label, _ in choice.buttons] == ["Use a recovery code", "Ask support"]
    (explain,) = await user.press(choice, "Ask support")
    assert "Support can turn 2FA off" in explain.shown_text
    (preview,) = await user.send(reason)
    assert reason in preview.shown_text and "Send it?" in preview.shown_text
    answer = await user.press(preview, "Send to support")
    assert any("is with support" in m.shown_text for m in answer)
    return secret


async def approve(harness: Harness, label: str = "24 h", agent_id: int = AGENT) -> ChatUser:
    """An agent presses Approve, then a duration, on the request's support message."""
    agent = in_support(harness, agent_id)
    await agent.press(support_message(harness), "Approve")
    await agent.press(support_message(harness), label)
    return agent


# ------------------------------------------------------------------- the HTTP API


class Api:
    """The HTTP API of a running harness (``api`` fixture), called as the login system does."""

    def __init__(self, harness: Harness, base: str, http: aiohttp.ClientSession) -> None:
        self.harness = harness
        self.base = base
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = API_TOKEN, **kw: Any
    ) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, self.base + path, json=body, headers=headers, **kw
        ) as response:
            return response.status, await response.json(), response

    async def verify(self, account: str, code: str) -> dict[str, Any]:
        status, body, _ = await self.call("POST", "/v1/verify", {"account": account, "code": code})
        assert status == 200, body
        return body
