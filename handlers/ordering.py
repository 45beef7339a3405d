"""Updates run concurrently across users, but one at a time for each user.

A user's messages must be handled in the order sent (the code before the device name);
different users must not wait for each other. So an update first waits for its user's
turn, and only then takes one of the global slots: a user who sends 200 messages at once
queues behind their own lock without holding the slots everyone else needs.

PTB's ``process_update`` (final) takes a slot of its own semaphore before it calls
``do_process_update``, the other way round. Its semaphore is therefore sized never to
make an update wait: it only counts the updates in flight, those waiting for their
user's turn included (PTB has already made each of them a task, so a bound there would
save no memory, only let one user's flood fill it). The slots that limit how many
handlers run at once are taken here, after the user's turn.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import Any

from prometheus_client import Histogram
from telegram import Update
from telegram.ext import BaseUpdateProcessor

UPDATES_IN_FLIGHT = sys.maxsize  # PTB's semaphore: never the one an update waits on


def _key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """``running_updates`` handlers at most at once, each user's updates in order."""

    def __init__(self, running_updates: int = 64, latency: Histogram | None = None) -> None:
        if running_updates < 1:
            raise ValueError("running_updates must be a positive integer")
        super().__init__(UPDATES_IN_FLIGHT)
        self._slots = asyncio.BoundedSemaphore(running_updates)
        self._latency = latency
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._waiting: dict[int | None, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """The user's turn first, then a slot; timed from arrival to the end of handling."""
        key = _key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        started = time.perf_counter()
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            if self._latency is not None:
                self._latency.observe(time.perf_counter() - started)
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
