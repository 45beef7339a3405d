"""Retention: delivered alerts and account notices go after RETENTION_DAYS, in bounded
batches; what still waits for delivery stays, and so does the audit log."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from core.alerts import AlertService
from core.clock import FakeClock
from core.config import Settings
from core.notices import NoticeService
from storage.db import Database
from tests.harness import Harness, enrol

RETENTION = timedelta(days=90)


COUNTS = {
    "alert_events": "SELECT COUNT(*) FROM alert_events",
    "user_notices": "SELECT COUNT(*) FROM user_notices",
    "audit_log": "SELECT COUNT(*) FROM audit_log",
}


async def count(db: Database, table: str) -> int:
    row = await db.run(lambda tx: tx.connection.execute(COUNTS[table]).fetchone())
    return int(row[0])


async def deliver_all(alerts: AlertService) -> None:
    for message in await alerts.pending():
        await alerts.delivered(message)


async def test_delivered_alerts_older_than_the_retention_go(db: Database, clock: FakeClock) -> None:
    alerts = AlertService(db, clock)
    for _ in range(5):
        await alerts.raise_event("bot_started", "info")
    await deliver_all(alerts)  # four went out one by one, the fifth waits (a burst)
    assert await alerts.depth() == 1
    clock.advance(RETENTION - timedelta(minutes=1))
    assert await alerts.prune(RETENTION) == 0
    clock.advance(minutes=2)
    assert await alerts.prune(RETENTION, batch=3) == 4
    assert await count(db, "alert_events") == 1 and await alerts.depth() == 1


async def test_a_set_aside_alert_goes_after_the_retention_too(
    db: Database, clock: FakeClock
) -> None:
    alerts = AlertService(db, clock)
    await alerts.raise_event("bot_started", "info")
    (message,) = await alerts.pending()
    await alerts.failed(message)
    clock.advance(days=1)
    (message,) = await alerts.pending()
    assert await alerts.failed(message) == 1
    clock.advance(RETENTION + timedelta(days=1))
    assert await alerts.prune(RETENTION) == 1


async def test_pruning_deletes_in_bounded_batches(db: Database, clock: FakeClock) -> None:
    alerts = AlertService(db, clock)
    for _ in range(7):
        await alerts.raise_event("bot_started", "info")
    await db.run(lambda tx: tx.alerts.mark_delivered(list(range(1, 8)), clock.now()))
    clock.advance(RETENTION + timedelta(days=1))
    before = clock.now() - RETENTION
    assert await db.run(lambda tx: tx.alerts.prune(before, 3)) == 3  # one transaction
    assert await alerts.prune(RETENTION, batch=3) == 4
    assert await count(db, "alert_events") == 0


async def test_delivered_notices_go_in_batches_and_waiting_ones_stay(
    db: Database, clock: FakeClock
) -> None:
    notices = NoticeService(db, clock)
    now = clock.now()
    await db.run(lambda tx: tx.accounts.ensure("tg:1001", now))
    for _ in range(5):
        await db.run(lambda tx: tx.notices.add("tg:1001", "device_added", now, name="Phone"))
    due = await notices.pending()
    for notice, _ in due[:4]:
        await notices.delivered(notice)
    clock.advance(RETENTION - timedelta(minutes=1))
    assert await notices.prune(RETENTION) == 0
    clock.advance(minutes=2)
    assert await notices.prune(RETENTION, batch=3) == 4
    assert await count(db, "user_notices") == 1  # the undelivered one waits still
    clock.advance(days=365)
    assert await notices.prune(RETENTION) == 0


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ops_chat_id=-100700, retention=RETENTION)


async def test_the_retention_job_prunes_alerts_and_notices_but_not_the_audit_log(
    chat_bot: Harness,
) -> None:
    svc = chat_bot.app.bot_data["services"]
    await enrol(chat_bot.user(1001))
    now = chat_bot.clock.now()
    await svc.db.run(lambda tx: tx.notices.add("tg:1001", "device_added", now, name="Phone"))
    await chat_bot.run_job("alerts")
    await chat_bot.run_job("notices")
    alerts, notices = await count(svc.db, "alert_events"), await count(svc.db, "user_notices")
    audit = await count(svc.db, "audit_log")
    assert alerts >= 1 and notices >= 1 and audit >= 1
    chat_bot.clock.advance(days=89)
    await svc.alerts.raise_event("bot_error", "critical", error="X")  # waits: stays
    await chat_bot.run_job("retention")
    assert await count(svc.db, "alert_events") == alerts + 1
    chat_bot.clock.advance(days=2)
    chat_bot.state.fail_next("sendMessage", status=502, count=10)  # the new alert is not delivered
    await chat_bot.run_job("alerts")
    await chat_bot.run_job("retention")
    assert await count(svc.db, "alert_events") == 1 and await svc.alerts.depth() == 1
    assert await count(svc.db, "user_notices") == 0
    assert await count(svc.db, "audit_log") == audit
