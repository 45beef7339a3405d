"""No update is lost to a crash or a take-over, none is handled twice (core/inbox.py).

Long polling confirms the updates it fetched with its next getUpdates (the offset), before
they are handled; webhook mode answers 200 before they are handled. Either way Telegram
then considers them delivered, so the queue stores each update on the way in.

python-telegram-bot's webhook handler (``telegram/ext/_utils/webhookhandler.py``) answers
Telegram 200 as soon as ``await update_queue.put(update)`` returns, before any handler
ran; Telegram then considers the update delivered. So this queue's ``put`` first writes
the update to the database inbox: the 200 goes out only once it is stored (a database
that fails makes it a 500, and Telegram delivers it again later). An update_id the inbox
has seen is dropped there. The update processor marks each update handled after its
handlers ran (an exception in a handler counts as handled: the error handler had it).
At start, ``post_init`` puts what the inbox holds unhandled at the head of the queue,
before the webhook listens.

Why not answer Telegram only once the update is handled: PTB 22 offers no hook for it
(``Updater.start_webhook`` builds its own handler), Telegram would wait on every handler
(a minute of flood control, a slow database) with its connection open and send the
update again when it times out, and a handler that fails would be retried by Telegram
for as long as it fails. Storing first costs one insert before the answer, and the
standby that takes over (PostgreSQL) handles what the dead bot had acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Bot, Update

from core.inbox import UpdateInbox
from handlers.ordering import PerUserUpdateProcessor

logger = logging.getLogger(__name__)


class InboxQueue(asyncio.Queue[object]):
    """The Application's ``update_queue`` in webhook mode: updates are stored on the way
    in (anything else PTB puts there, such as its stop signal, passes as it is)."""

    def __init__(self) -> None:
        super().__init__()
        self._inbox: UpdateInbox | None = None

    async def open(self, inbox: UpdateInbox, bot: Bot) -> None:
        """Store from now on, and queue what an earlier run took and did not handle."""
        self._inbox = inbox
        resumed = await inbox.resume()
        if resumed.given_up:
            logger.warning(
                "%d update(s) received before the last stop are given up (each was tried "
                "at several starts, or is older than a day): update_id %s",
                len(resumed.given_up),
                ", ".join(map(str, resumed.given_up)),
            )
        for stored in resumed.updates:
            update = Update.de_json(json.loads(stored.payload), bot)
            if update is not None:
                self.put_nowait(update)
        if resumed.updates:
            logger.info(
                "%d update(s) received before the last stop are handled now",
                len(resumed.updates),
            )

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            if self._inbox is None:  # not before post_init: nothing could store it
                raise RuntimeError("the update inbox is not open")
            try:
                new = await self._inbox.receive(item.update_id, item.to_json())
            except Exception as exc:  # PTB answers 500 and logs only at DEBUG
                logger.warning(
                    "update %d not stored (Telegram sends it again): %s", item.update_id, exc
                )
                raise
            if not new:
                logger.info("update %d was received before: dropped", item.update_id)
                return
        await super().put(item)

    async def handled(self, update: object) -> None:
        if isinstance(update, Update) and self._inbox is not None:
            await self._inbox.handled(update.update_id)


class InboxUpdateProcessor(PerUserUpdateProcessor):
    """Each user's updates in order (``PerUserUpdateProcessor``), then marked handled."""

    def __init__(self, queue: InboxQueue, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue = queue

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await super().do_process_update(update, coroutine)
        try:
            await self._queue.handled(update)
        except Exception as exc:  # handled already: at worst handled again after a restart
            logger.warning("an update was handled but not marked so: %s", exc)
