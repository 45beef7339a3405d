"""The alert outbox core: what goes out when (folding), what is given up (set aside)."""

from __future__ import annotations

import pytest

from core.alerts import AlertMessage, AlertService, tail
from core.clock import FakeClock
from storage.db import Database


@pytest.fixture
def alerts(db: Database, clock: FakeClock) -> AlertService:
    return AlertService(db, clock)


async def send_all(alerts: AlertService) -> list[AlertMessage]:
    """What the sender would send now; all of it goes through."""
    messages = await alerts.pending()
    for message in messages:
        await alerts.delivered(message)
    return messages


def shape(messages: list[AlertMessage]) -> list[int]:
    return [len(m.events) for m in messages]


async def lock(alerts: AlertService, account: str) -> None:
    await alerts.raise_event("account_locked", "warning", account_id=account, failures=5)


async def test_alerts_go_one_by_one_until_more_than_three_went_out(
    alerts: AlertService, clock: FakeClock
) -> None:
    for n in range(4):
        clock.advance(seconds=5)
        await lock(alerts, f"a{n}")
        assert shape(await send_all(alerts)) == [1]
    await lock(alerts, "a4")
    await lock(alerts, "a5")
    assert await send_all(alerts) == []
    clock.advance(seconds=59)
    assert await send_all(alerts) == []
    clock.advance(seconds=1)
    (summary,) = await send_all(alerts)
    assert [e.account_id for e in summary.events] == ["a4", "a5"]


async def test_alerts_raised_together_four_go_alone_the_rest_waits(
    alerts: AlertService, clock: FakeClock
) -> None:
    for n in range(7):
        await lock(alerts, f"a{n}")
    assert shape(await send_all(alerts)) == [1, 1, 1, 1]
    clock.advance(minutes=1)
    assert shape(await send_all(alerts)) == [3]


async def test_after_ten_quiet_minutes_alerts_go_one_by_one_again(
    alerts: AlertService, clock: FakeClock
) -> None:
    for n in range(5):
        await lock(alerts, f"a{n}")
    await send_all(alerts)
    clock.advance(minutes=1)
    await send_all(alerts)
    clock.advance(minutes=10)
    await lock(alerts, "b")
    assert shape(await send_all(alerts)) == [1]


async def test_kinds_fold_apart_and_critical_ones_are_never_held(
    alerts: AlertService, clock: FakeClock
) -> None:
    for n in range(6):
        await lock(alerts, f"a{n}")
        await alerts.raise_event("api_error", "critical", error="OperationalError")
    sent = await send_all(alerts)
    by_kind = {kind: shape([m for m in sent if m.kind == kind]) for kind in {m.kind for m in sent}}
    assert by_kind == {"account_locked": [1, 1, 1, 1], "api_error": [1, 1, 1, 1, 2]}
    await alerts.raise_event("api_error", "critical", error="OperationalError")
    assert shape(await send_all(alerts)) == [1]  # at once, although a minute has not passed


async def test_start_and_stop_are_folded_too(alerts: AlertService) -> None:
    for _ in range(6):  # a bot that restarts in a loop
        await alerts.raise_event("bot_started", "info")
    assert shape(await send_all(alerts)) == [1, 1, 1, 1]


async def test_an_alert_failing_for_a_day_is_set_aside(
    alerts: AlertService, clock: FakeClock
) -> None:
    await lock(alerts, "a")
    (message,) = await alerts.pending()
    assert await alerts.failed(message) == 0
    clock.advance(hours=23, minutes=59)
    (message,) = await alerts.pending()
    assert await alerts.failed(message) == 0
    clock.advance(minutes=1)
    (message,) = await alerts.pending()
    assert await alerts.failed(message) == 1
    clock.advance(days=1)
    assert await alerts.pending() == []
    outbox = await alerts.outbox()
    assert (outbox.waiting, outbox.set_aside, outbox.oldest_waiting_at) == (0, 1, None)


async def test_the_day_counts_from_the_first_failure_not_from_the_alert(
    alerts: AlertService, clock: FakeClock
) -> None:
    await lock(alerts, "a")  # raised while the bot was down for two days
    clock.advance(days=2)
    (message,) = await alerts.pending()
    assert await alerts.failed(message) == 0
    assert (await alerts.outbox()).waiting == 1


def test_tail_keeps_the_end_from_a_line_start() -> None:
    text = "".join(f"line {n}\n" for n in range(1000)) + "ValueError: the end"
    kept = tail(text, 100)
    assert kept.endswith("ValueError: the end") and kept.startswith("…\nline ")
    assert len(kept) <= 102 and tail("short", 100) == "short"
