"""`BotApiState`: a simulated Telegram, in memory, driven by tests and served to the bot.

Two sides share it:

* the bot side, `await state.call(method, params, files)`, reached through
  `FakeBotApiRequest` (in process) or `BotApiServer` (HTTP); the methods live in
  `tests.botapi.methods`;
* the test side, synchronous simulation methods (`send_text`, `press_button`, `block`...) that
  play users and queue updates, inspection (`messages`, `calls`...) and awaitable waits
  (`wait_for_message`, `wait_for_calls`).

Everything runs on one event loop and no method awaits half-way through a mutation, so the test
side may be called while a getUpdates long poll is waiting; waiters are woken by per-key
`asyncio.Event`s (`_Signals`), never by polling loops.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from tests.botapi.methods import CANONICAL_NAMES, ApiMethods
from tests.botapi.models import (
    CallbackRecord,
    Fault,
    SimChat,
    SimMessage,
    SimUser,
    StoredFile,
    buttons,
)
from tests.botapi.params import FileTuple, Params
from tests.botapi.payloads import (
    FileIdFactory,
    message_json,
    photo_dimensions,
)
from tests.botapi.protocol import ApiError, ok
from tests.botapi.simulation import UserSimulation

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


class BotApiState(UserSimulation, ApiMethods):
    """In-memory Telegram for one bot. See the module docstring."""

    #: Inline-keyboard flattening helper, also available as `tests.botapi.buttons`.
    buttons = staticmethod(buttons)

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
        self._revision = 0
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

    # ------------------------------------------------------------------------- bot API side

    async def call(
        self, method: str, params: dict[str, str], files: dict[str, FileTuple] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Execute one Bot API method; returns (HTTP status, JSON body) like api.telegram.org.

        `params` are strings as sent over HTTP (non-string values JSON-encoded, as PTB does);
        `files` are multipart parts by field name.
        """
        key = method.lower()
        name = CANONICAL_NAMES.get(key, method)
        self.calls.append((name, dict(params)))
        self._call_counts[name] += 1
        self._signals.notify("calls")
        handler = getattr(self, f"api_{key}", None) if key in CANONICAL_NAMES else None
        try:
            if handler is None:
                raise ApiError(404)
            fault = self._take_fault(key)
            if fault is not None:
                raise fault
            result = await handler(Params(params, files))
        except ApiError as error:
            return error.status, error.body()
        return 200, ok(result)

    def fail_next(
        self,
        method: str,
        status: int = 500,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next `count` calls of `method` fail with `status`, without side effects.

        `method` is case-insensitive; "*" matches any method except getUpdates (a test's "*"
        would otherwise be eaten by the poller). 429 carries parameters.retry_after
        (`retry_after`, default 1); 502/503/504 come as nginx HTML pages on the wire.
        """
        self._faults.append(
            Fault(method.lower(), status, count, retry_after=retry_after, description=description)
        )

    def _take_fault(self, key: str) -> ApiError | None:
        for fault in self._faults:
            if fault.method == key or (fault.method == "*" and key != "getupdates"):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                if fault.status == 429:
                    error = ApiError.too_many_requests(fault.retry_after or 1)
                    error.description = fault.description or error.description
                    return error
                return ApiError(fault.status, fault.description)
        return None

    def release_pollers(self) -> None:
        """Make waiting getUpdates calls return [] now (used when a server shuts down)."""
        self._release_epoch += 1
        self._signals.notify("updates")

    # ------------------------------------------------------------------- helpers for methods

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

    # -------------------------------------------------------------------------- inspection

    def messages(self, chat_id: int, include_deleted: bool = False) -> list[SimMessage]:
        """Messages the bot sent in the chat, oldest first."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [
            m for m in chat.messages.values() if m.from_bot and (include_deleted or not m.deleted)
        ]

    def last_message(self, chat_id: int) -> SimMessage | None:
        """The bot's most recently sent (not deleted) message in the chat."""
        chat = self.chats.get(chat_id)
        for message in reversed(chat.messages.values() if chat else []):
            if message.from_bot and not message.deleted:
                return message
        return None

    def message(self, chat_id: int, message_id: int) -> SimMessage | None:
        """Any message (bot's or user's, deleted or not) by id."""
        chat = self.chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def user_messages(self, chat_id: int, include_deleted: bool = True) -> list[SimMessage]:
        """Messages simulated users sent in the chat, oldest first (check `.deleted`)."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [
            m
            for m in chat.messages.values()
            if not m.from_bot and (include_deleted or not m.deleted)
        ]

    @property
    def revision(self) -> int:
        """The latest message revision (see SimMessage.revision); 0 before any bot message."""
        return self._revision

    def pending_updates(self) -> list[dict[str, Any]]:
        """Queued updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def find_message(
        self,
        chat_id: int,
        predicate: Callable[[SimMessage], bool] | None = None,
        *,
        after_message_id: int | None = None,
        after_revision: int | None = None,
    ) -> SimMessage | None:
        """The most recently sent-or-edited live bot message in the chat matching all filters
        (message_id > after_message_id, revision > after_revision, predicate); no waiting."""
        best = None
        for message in self.messages(chat_id):
            if after_message_id is not None and message.message_id <= after_message_id:
                continue
            if after_revision is not None and message.revision <= after_revision:
                continue
            if predicate is not None and not predicate(message):
                continue
            if best is None or message.revision > best.revision:
                best = message
        return best

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[SimMessage], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the documented API
        *,
        after_message_id: int | None = None,
        after_revision: int | None = None,
    ) -> SimMessage:
        """Wait for a bot message in the chat matching all filters (see `find_message`).

        Sends and edits both count: what is compared is the message's current content, and
        its `revision` is bumped by every send and edit. By default only messages sent or
        edited after the latest simulated user action in this chat are considered, so
        ``send_text(...); await wait_for_message(chat)`` gets the reply to that text, not an
        older message; pass ``after_revision=0`` to consider every message. If several match,
        the most recently sent-or-edited one is returned. Raises TimeoutError.
        """
        if after_revision is None:
            chat = self.chats.get(chat_id)
            after_revision = chat.last_user_revision if chat else 0

        def check() -> SimMessage | None:
            return self.find_message(
                chat_id,
                predicate,
                after_message_id=after_message_id,
                after_revision=after_revision,
            )

        try:
            return await self._wait_until(("chat", chat_id), check, timeout)
        except TimeoutError:
            seen = [(m.message_id, m.content[:60]) for m in self.messages(chat_id)[-5:]]
            raise TimeoutError(
                f"no matching bot message in chat {chat_id} after {timeout}s; last: {seen}"
            ) from None

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the documented API
    ) -> list[dict[str, str]]:
        """Wait until `method` has been called at least `count` times in total (since the state
        was created, failed calls included); returns the params of all those calls."""
        name = CANONICAL_NAMES.get(method.lower(), method)

        def check() -> list[dict[str, str]] | None:
            if self._call_counts[name] < count:
                return None
            return [params for called, params in self.calls if called == name]

        try:
            return await self._wait_until("calls", check, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{name} called {self._call_counts[name]} times, wanted {count}, in {timeout}s"
            ) from None

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
