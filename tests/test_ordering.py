"""The update processor: one user's flood does not hold up other users."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from handlers.ordering import PerUserUpdateProcessor


def update_from(user_id: int, update_id: int) -> Update:
    user = User(user_id, "U", False)
    message = Message(update_id, None, Chat(user_id, "private"), from_user=user)  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_a_flood_from_one_user_does_not_block_another() -> None:
    processor = PerUserUpdateProcessor(4)
    order: list[str] = []

    async def slow(tag: str) -> None:
        await asyncio.sleep(0.05)
        order.append(tag)

    async def quick(tag: str) -> None:
        order.append(tag)

    flood = [
        asyncio.create_task(processor.process_update(update_from(1, i), slow(f"a{i}")))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    other = asyncio.create_task(processor.process_update(update_from(2, 100), quick("b")))
    await asyncio.wait_for(other, 0.5)  # would take 20 x 50 ms behind the flood otherwise
    assert order.index("b") <= 1
    await asyncio.gather(*flood)
    assert [t for t in order if t.startswith("a")] == [f"a{i}" for i in range(20)]
