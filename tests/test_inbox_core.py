"""The webhook's inbox: kept before acknowledged, handled once, in order, remembered a while."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core import inbox as inbox_rules
from core.clock import FakeClock
from core.inbox import MAX_ATTEMPTS, REMEMBER_FOR, UpdateInbox
from storage.db import Database


@pytest.fixture
def inbox(db: Database, clock: FakeClock) -> UpdateInbox:
    return UpdateInbox(db, clock)


def body(update_id: int, text: str = "/help") -> str:
    return json.dumps({"update_id": update_id, "message": {"text": text}})


async def test_an_update_id_received_again_is_dropped_handled_or_not(inbox: UpdateInbox) -> None:
    assert await inbox.receive(10, body(10))
    assert not await inbox.receive(10, body(10))  # waiting to be handled
    await inbox.handled(10)
    assert not await inbox.receive(10, body(10, "/status"))  # handled
    assert await inbox.receive(11, body(11))


async def test_a_start_resumes_the_unhandled_in_arrival_order_without_their_bodies_kept(
    inbox: UpdateInbox, db: Database
) -> None:
    for update_id in (7, 5, 9):  # Telegram's ids need not grow (a week of silence)
        assert await inbox.receive(update_id, body(update_id))
    await inbox.handled(5)
    resumed = await inbox.resume()
    assert [(u.update_id, u.payload) for u in resumed.updates] == [(7, body(7)), (9, body(9))]
    assert resumed.given_up == ()
    bodies = await db.run(
        lambda tx: tx.connection.execute(
            "SELECT update_id FROM telegram_inbox WHERE payload IS NOT NULL ORDER BY update_id"
        ).fetchall()
    )
    assert [row[0] for row in bodies] == [7, 9]  # a handled update's text (a code) is gone


async def test_an_update_that_never_gets_handled_is_given_up_after_some_starts(
    inbox: UpdateInbox,
) -> None:
    await inbox.receive(1, body(1))
    for _ in range(MAX_ATTEMPTS):
        assert [u.update_id for u in (await inbox.resume()).updates] == [1]
    resumed = await inbox.resume()
    assert resumed.updates == () and resumed.given_up == (1,)
    assert await inbox.resume() == inbox_rules.Resumed((), ())
    assert not await inbox.receive(1, body(1))  # still remembered


async def test_an_update_older_than_telegram_would_deliver_is_given_up(
    inbox: UpdateInbox, clock: FakeClock
) -> None:
    await inbox.receive(1, body(1))
    clock.advance(REMEMBER_FOR + timedelta(seconds=1))
    await inbox.receive(2, body(2))
    resumed = await inbox.resume()
    assert [u.update_id for u in resumed.updates] == [2] and resumed.given_up == (1,)


async def test_handled_ids_are_remembered_a_day_and_at_most_so_many(
    inbox: UpdateInbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_rules, "REMEMBER_MOST", 3)
    for update_id in range(1, 6):
        await inbox.receive(update_id, body(update_id))
    await inbox.receive(6, body(6))  # not handled: never forgotten
    for update_id in range(1, 6):
        await inbox.handled(update_id)
    await inbox.forget_old()  # the retention job
    # The latest three received are remembered (4, 5 and the unhandled 6), not 1 to 3.
    assert [await inbox.receive(n, body(n)) for n in (1, 2, 3)] == [True, True, True]
    assert [await inbox.receive(n, body(n)) for n in (4, 5, 6)] == [False, False, False]

    clock.advance(REMEMBER_FOR + timedelta(seconds=1))
    await inbox.receive(100, body(100))
    await inbox.handled(100)
    await inbox.forget_old()  # forgets the handled ones of more than a day ago
    assert await inbox.receive(4, body(4)) and await inbox.receive(5, body(5))
    assert not await inbox.receive(6, body(6)) and not await inbox.receive(100, body(100))
