"""Handler tests: python-telegram-bot's real Application, a simulated Bot API, no network.

Updates go through ``Application.process_update`` (as PTB's own tests do), and the
bot's calls go through ``FakeBotApiRequest`` into a ``BotApiState`` that records what
a user would see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from core.clock import FakeClock
from core.config import Settings
from demo.botapi import BotApiState, FakeBotApiRequest, SimMessage

BOT_ID = 123456
BOT_USERNAME = "twofa_desk_bot"


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
