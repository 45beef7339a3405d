"""`StateCore`: what the simulated Telegram records, and the helpers both of its sides use.

`BotApiState` (state.py) combines `UserSimulation` (simulation.py, the users' side) and
`ApiMethods` (methods.py, the bot's side). Both build on this class: users, chats, files, the
update queue, message revisions, and the per-key events (`_Signals`) that wake waiters.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from demo.botapi.models import (
    CallbackRecord,
    Fault,
    SimChat,
    SimMessage,
    SimUser,
    StoredFile,
    Webhook,
)
from demo.botapi.payloads import FileIdFactory, message_json, photo_dimensions

T = TypeVar("T")


class _Signals:
    """One-shot broadcast events by key: a waiter takes `event(key)`, `notify(key)` sets it."""

    def __init__(self) -> None:
        self._events: dict[Hashable, asyncio.Event] = {}

    def event(self, key: Hashable) -> asyncio.Event:
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def notify(self, key: Hashable) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()


class StateCore:
    """The records and shared helpers of `BotApiState`; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",  # noqa: S107 - a fake token
        bot_id: int = 123456,
        bot_username: str = "twofa_desk_bot",
        bot_name: str = "2FA Desk",
        *,
        queue_updates: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_name = bot_name
        #: When False, simulation methods only return the update (feed it to
        #: `Application.process_update` yourself); getUpdates then never sees it.
        self.queue_updates = queue_updates
        self._clock = clock
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, SimChat] = {}
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_ids = FileIdFactory()
        self._updates: deque[dict[str, Any]] = deque()
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._poll_epoch = 0  # bumped by every getUpdates: older waiting polls answer 409
        self._release_epoch = 0  # bumped by release_pollers(): waiting polls answer []
        self._queries: dict[str, CallbackRecord] = {}
        self._next_query = 0
        self._faults: list[Fault] = []
        #: Set by setWebhook: updates go to it (demo/botapi/webhook.py), getUpdates answers 409.
        self.webhook: Webhook | None = None
        #: Groups the bot was removed from (`remove_bot_from`): every call there answers 403.
        self.removed_from: set[int] = set()
        self._revision = 0
        #: Bumped by every change a chat window would show (a message sent, edited or
        #: deleted by anyone, a user or group added, a button answered): `wait_for_change`.
        self.changes = 0
        self._signals = _Signals()
        self._call_counts: Counter[str] = Counter()
        #: Every Bot API call that reached the state, failed ones included: (method, params).
        #: Method names are canonical ("sendMessage") whatever case the client used.
        self.calls: list[tuple[str, dict[str, str]]] = []
        #: answerCallbackQuery answers by query id: {"text", "show_alert", "url", "cache_time"}.
        self.callback_answers: dict[str, dict[str, Any]] = {}
        #: sendChatAction calls, in order: (chat_id, action).
        self.chat_actions: list[tuple[int, str]] = []
        #: setMyCommands by (scope JSON, language_code).
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: setMyDescription / setMyShortDescription / setMyName values by (field, language).
        self.profile: dict[tuple[str, str], str] = {}

    # ---------------------------------------------------------------- helpers for both sides

    def now(self) -> int:
        return int(self._clock())

    def bot_json(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    def message_json(self, message: SimMessage) -> dict[str, Any]:
        """The Message JSON Telegram would send for `message` in its current state."""
        chat = self.chats[message.chat_id]
        if message.from_bot:
            sender = self.bot_json()
        else:
            user = self.users.get(message.from_id) or SimUser(message.from_id)
            sender = user.to_json()
        return message_json(message, chat, sender)

    def _touch(self, message: SimMessage) -> None:
        """Record a send or edit: new revision, wake wait_for_message waiters of the chat."""
        self._revision += 1
        message.revision = self._revision
        self._signals.notify(("chat", message.chat_id))
        self._changed()

    def _changed(self) -> None:
        """Something a chat window shows changed: wake `wait_for_change` waiters."""
        self.changes += 1
        self._signals.notify("changes")

    async def wait_for_change(
        self,
        after: int,
        timeout: float = 25.0,  # noqa: ASYNC109 - part of the documented API
    ) -> int:
        """Wait until `changes` is above `after` (at most `timeout` seconds); the current
        value of `changes` either way (a long poll for a chat window)."""
        try:
            return await self._wait_until(
                "changes", lambda: self.changes if self.changes > after else None, timeout
            )
        except TimeoutError:
            return self.changes

    def store_file(self, data: bytes, kind: str, extension: str, mime_type: str) -> StoredFile:
        file_id, unique_id = self._file_ids.new(kind)
        folder = {"photo": "photos", "sticker": "stickers"}.get(kind, "documents")
        path = f"{folder}/file_{len(self.files)}.{extension}"
        stored = StoredFile(file_id, unique_id, data, path, mime_type)
        self.files[file_id] = stored
        self._files_by_path[path] = stored
        return stored

    def file_bytes(self, file_path: str) -> bytes | None:
        """Content served at /file/bot<token>/<file_path>; None if there is no such file."""
        stored = self._files_by_path.get(file_path)
        return stored.data if stored else None

    def photo_sizes(self, data: bytes, width: int, height: int) -> list[dict[str, Any]]:
        """PhotoSize list for an image. Every size serves the original bytes: the simulator
        does not re-encode or downscale (the largest size has the real dimensions)."""
        sizes = []
        for size_width, size_height in photo_dimensions(width, height):
            stored = self.store_file(data, "photo", "jpg", "image/jpeg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": size_width,
                    "height": size_height,
                }
            )
        return sizes

    @property
    def revision(self) -> int:
        """The latest message revision (see SimMessage.revision); 0 before any bot message."""
        return self._revision

    async def _wait_until(
        self,
        key: Hashable,
        check: Callable[[], T | None],
        timeout: float | None,  # noqa: ASYNC109 - deadline is computed from it
    ) -> T:
        """Re-run `check` each time `key` is notified until it returns non-None.

        The event is taken before checking, and nothing awaits in between, so a notification
        cannot slip between the check and the wait."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            event = self._signals.event(key)
            result = check()
            if result is not None:
                return result
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                continue
