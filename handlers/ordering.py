"""Updates run concurrently across users, but one at a time for each user.

A user's messages must be handled in the order sent (the code before the device name);
different users must not wait for each other. So an update first waits for its user's
turn, and only then takes one of the global slots: a user who sends 200 messages at once
queues behind their own lock without holding the slots everyone else needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from prometheus_client import Histogram
from telegram import Update
from telegram.ext import BaseUpdateProcessor


def _key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


class PerUserUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 64, latency: Histogram | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._slots = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._latency = latency
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._waiting: dict[int | None, int] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """The user's turn first, then a global slot (PTB's default takes the slot first)."""
        key = _key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        started = time.perf_counter()
        try:
            async with lock, self._slots:
                await self.do_process_update(update, coroutine)
        finally:
            if self._latency is not None:
                self._latency.observe(time.perf_counter() - started)
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                del self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
