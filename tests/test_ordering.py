"""The update processor: one user's flood does not hold up other users."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram
from telegram import Chat, Message, Update, User
from telegram.ext import BaseUpdateProcessor

from handlers.ordering import PerUserUpdateProcessor


def update_from(user_id: int, update_id: int) -> Update:
    user = User(user_id, "U", False)
    message = Message(update_id, None, Chat(user_id, "private"), from_user=user)  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def settle() -> None:
    """Let every task run until it waits on something (no timing involved)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_flood_from_one_user_does_not_block_another() -> None:
    processor = PerUserUpdateProcessor(4)
    order: list[str] = []
    release = asyncio.Event()

    async def held(tag: str) -> None:
        await release.wait()
        order.append(tag)

    async def quick(tag: str) -> None:
        order.append(tag)

    flood = [
        asyncio.create_task(processor.process_update(update_from(1, i), held(f"a{i}")))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    other = asyncio.create_task(processor.process_update(update_from(2, 100), quick("b")))
    try:
        await settle()
        # User 2 is answered while user 1's first update still runs and 19 wait behind it.
        assert other.done()
        assert order == ["b"]
    finally:
        release.set()
        await asyncio.gather(*flood, other)
    assert order[1:] == [f"a{i}" for i in range(20)]


async def test_no_more_updates_run_at_once_than_the_slots() -> None:
    processor = PerUserUpdateProcessor(2)
    running = 0
    peak = 0
    release = asyncio.Event()

    async def handler() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    tasks = [
        asyncio.create_task(processor.process_update(update_from(user, user), handler()))
        for user in range(6)
    ]
    try:
        await settle()
        assert running == 2
    finally:
        release.set()
        await asyncio.gather(*tasks)
    assert peak == 2


async def test_every_update_is_timed_once() -> None:
    latency = Histogram("update_seconds", "test", registry=CollectorRegistry())
    processor = PerUserUpdateProcessor(2, latency)

    async def handler() -> None:
        pass

    await asyncio.gather(
        *(processor.process_update(update_from(i % 2, i), handler()) for i in range(5))
    )
    metric = next(iter(latency.collect()))
    count = next(s.value for s in metric.samples if s.name.endswith("_count"))
    assert count == 5


def test_ptb_final_process_update_is_not_overridden() -> None:
    """PTB 22 marks ``process_update`` final; the ordering lives in ``do_process_update``."""
    assert PerUserUpdateProcessor.process_update is BaseUpdateProcessor.process_update
