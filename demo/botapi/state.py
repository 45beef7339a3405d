"""`BotApiState`: a simulated Telegram, in memory, driven by tests and served to the bot.

Two sides share it:

* the bot side, `await state.call(method, params, files)`, reached through
  `FakeBotApiRequest` (in process) or `BotApiServer` (HTTP); the methods live in
  `demo.botapi.methods`;
* the test side, synchronous simulation methods (`send_text`, `press_button`, `block`...) that
  play users and queue updates (in `demo.botapi.simulation`), inspection (`messages`,
  `calls`...) and awaitable waits (`wait_for_message`, `wait_for_calls`).

What both sides read and write (users, chats, files, the update queue, revisions) and the
constructor are in `demo.botapi.core.StateCore`, the base of both.

Everything runs on one event loop and no method awaits half-way through a mutation, so the test
side may be called while a getUpdates long poll is waiting; waiters are woken by per-key
`asyncio.Event`s (`_Signals`), never by polling loops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from demo.botapi.methods import CANONICAL_NAMES, ApiMethods
from demo.botapi.models import CallbackRecord, Fault, SimMessage, buttons
from demo.botapi.params import FileTuple, Params
from demo.botapi.protocol import ApiError, ok
from demo.botapi.simulation import UserSimulation


class BotApiState(UserSimulation, ApiMethods):
    """In-memory Telegram for one bot. See the module docstring."""

    #: Inline-keyboard flattening helper, also available as `demo.botapi.buttons`.
    buttons = staticmethod(buttons)

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
        if chat is None:
            return None
        for message in reversed(chat.messages.values()):
            if message.from_bot and not message.deleted:
                return message
        return None

    def message(self, chat_id: int, message_id: int) -> SimMessage | None:
        """Any message (bot's or user's, deleted or not) by id."""
        chat = self.chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def current(self, message: SimMessage) -> SimMessage:
        """`message` as its chat has it now (edited, deleted...); fails if the chat never had it."""
        found = self.message(message.chat_id, message.message_id)
        assert found is not None, f"no message {message.message_id} in chat {message.chat_id}"
        return found

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

    def callback_queries(self, chat_id: int) -> list[CallbackRecord]:
        """The button presses in the chat, oldest first (their answers: `callback_answers`)."""
        return [q for q in self._queries.values() if q.chat_id == chat_id]

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
