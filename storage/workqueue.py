"""The hand-over between the event loop and the database threads, shared by both backends.

``await db.run(work)`` puts the work function on a queue; a database thread takes it,
together with whatever else is queued by then (group commit: one transaction, one
COMMIT for the lot), runs it and hands the outcome back to the caller's event loop.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.repositories import Transaction

Outcome = tuple[bool, Any]  # (True, result) or (False, the exception)


@dataclass
class Work:
    fn: Callable[[Transaction], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


STOP = object()  # a database thread that takes this finishes its batch and ends

WorkQueue = queue.SimpleQueue[Work | object]


def next_batch(work_queue: WorkQueue, most: int) -> tuple[list[Work], bool]:
    """Wait for work, then take what else is already queued (up to ``most``);
    (the batch, whether the thread is to stop after it)."""
    batch: list[Work] = []
    item = work_queue.get()
    while True:
        if item is STOP:
            return batch, True
        assert isinstance(item, Work)
        if not item.future.cancelled():  # its caller gave up before it started
            batch.append(item)
        if len(batch) >= most:
            return batch, False
        try:
            item = work_queue.get_nowait()
        except queue.Empty:
            return batch, False


def deliver(batch: list[Work], outcomes: list[Outcome]) -> None:
    """Hand the results back: one wake-up of the event loop per batch, not per piece."""
    loop = batch[0].loop
    if all(item.loop is loop for item in batch):
        loop.call_soon_threadsafe(_settle, batch, outcomes)
        return
    for item, outcome in zip(batch, outcomes, strict=True):
        item.loop.call_soon_threadsafe(_settle, [item], [outcome])


def _settle(batch: list[Work], outcomes: list[Outcome]) -> None:
    for item, (ok, value) in zip(batch, outcomes, strict=True):
        if item.future.cancelled():
            continue  # the caller gave up; the work ran (and committed) all the same
        if ok:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)
