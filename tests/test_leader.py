"""The election: one active bot at a time (PostgreSQL advisory lock, SQLite lock file),
and the rule that a bot which lost the lock sends nothing (core/leadership.py).

The silent path is a TCP relay between the holder and PostgreSQL that stops forwarding
(tests/relay.py); the stalled event loop is a blocking call on the test's own loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from telegram import Bot
from telegram.error import NetworkError

from bench._postgres import PostgresServer
from bot.leader import AlreadyRunning, LeaderLock, SqliteGuard
from bot.telegram_transport import AiohttpRequest
from core.alerts import AlertService
from core.clock import FakeClock
from core.config import Settings
from core.crypto import decode_key, generate_key
from core.leadership import Leadership, LeaseTiming, NotLeader
from core.records import RequestStatus
from core.services import Services
from demo.botapi import BotApiServer, BotApiState
from storage.db import open_database
from storage.leader_lock import LOCK_KEYS
from tests.relay import Relay, terminate_leader_session

TIMING = LeaseTiming()
SLACK_S = 0.75  # scheduling on the shared 2-core machine, on top of each bound


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.database() as url:
        yield url


def via(url: str, relay: Relay) -> str:
    """The same database, reached through the relay."""
    parts = urlsplit(url)
    return parts._replace(
        netloc=f"{parts.username}:{parts.password}@127.0.0.1:{relay.port}"
    ).geturl()


@asynccontextmanager
async def bot_lock(
    lock_url: str, database_url: str, timing: LeaseTiming = TIMING
) -> AsyncIterator[tuple[LeaderLock, AlertService]]:
    """A bot's lock (its session on ``lock_url``) and an alert sender fenced by it (its
    transactions on ``database_url``, the path the test leaves alone)."""
    db = await open_database(database_url)
    leadership = Leadership(db, timing)
    lock = LeaderLock(lock_url, leadership)
    try:
        yield lock, AlertService(db, FakeClock(), leadership)
    finally:
        await lock.release()
        await db.close()


async def seconds_until(event: asyncio.Event | asyncio.Task[None], start: float) -> float:
    if isinstance(event, asyncio.Event):
        await event.wait()
    else:
        await event
    return time.monotonic() - start


async def test_one_holder_the_other_waits_and_takes_over_when_the_session_ends(
    database_url: str,
) -> None:
    async with (
        bot_lock(database_url, database_url) as (first, first_alerts),
        bot_lock(database_url, database_url) as (second, second_alerts),
    ):
        await first.acquire()
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(TIMING.check_interval * 1.5)
        assert first.held and not waiting.done()  # a standby while the first holds it
        assert await first_alerts.pending() == []
        with pytest.raises(NotLeader):
            await second_alerts.pending()  # a standby sends nothing

        terminate_leader_session(database_url)  # a server restart, an operator
        await asyncio.wait_for(first.lost.wait(), TIMING.check_interval + SLACK_S)
        assert not first.held
        await asyncio.wait_for(waiting, TIMING.retry + SLACK_S)
        assert second.held
        assert second.leadership.epoch == (first.leadership.epoch or 0) + 1
        assert await second_alerts.pending() == []
        with pytest.raises(NotLeader):
            await first_alerts.pending()


async def test_release_hands_the_lock_over(database_url: str) -> None:
    async with (
        bot_lock(database_url, database_url) as (first, _),
        bot_lock(database_url, database_url) as (second, _),
    ):
        await first.acquire()
        waiting = asyncio.create_task(second.acquire())
        await first.release()
        await asyncio.wait_for(waiting, TIMING.retry + SLACK_S)
        assert second.held


async def test_a_silent_path_loses_the_lock_at_the_lease_and_the_standby_takes_over(
    database_url: str,
) -> None:
    """Nothing crosses the holder's path to the server any more, not even a reset: the
    holder counts the lock lost when its lease lapses (not after psycopg's 10 s cancel),
    and the server ends the silent session, so the standby gets the lock."""
    relay = await Relay(urlsplit(database_url).port or 5432).start()
    try:
        async with (
            bot_lock(via(database_url, relay), database_url) as (holder, holder_alerts),
            bot_lock(database_url, database_url) as (standby, standby_alerts),
        ):
            await holder.acquire()
            waiting = asyncio.create_task(standby.acquire())
            await asyncio.sleep(TIMING.check_interval * 1.5)
            assert holder.held and not waiting.done()

            start = time.monotonic()
            relay.silence()
            lost, taken = await asyncio.gather(
                asyncio.wait_for(seconds_until(holder.lost, start), 20),
                asyncio.wait_for(seconds_until(waiting, start), 20),
            )
            active = taken + TIMING.grace  # when the standby would start sending
            print(f"\nsilent path: lock lost after {lost:.2f} s, taken after {taken:.2f} s")
            assert lost <= TIMING.lease + SLACK_S
            # The lease lapsed, or (on a loaded machine) the server's own timeout ended the
            # silent session first and the holder heard of it: either way, within the lease.
            assert any(
                why in holder.lost_reason
                for why in ("did not answer within the lease", "database session is gone")
            ), holder.lost_reason
            assert lost < active  # never two senders
            assert active <= TIMING.takeover_bound + SLACK_S
            assert standby.held and not holder.held

            relay.resume()  # the old holder's path comes back: it still sends nothing
            with pytest.raises(NotLeader):
                await holder_alerts.pending()
            assert await standby_alerts.pending() == []
    finally:
        await relay.close()


def _compete(url: str, got: list[float], stop: threading.Event) -> None:
    """Another bot, on a thread of its own (the test's event loop is about to block)."""
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEYS).fetchone()
            if row and row[0]:
                got.append(time.monotonic())
                return
            time.sleep(0.05)


async def test_a_stalled_event_loop_loses_the_lock_to_the_watchdog(database_url: str) -> None:
    """A blocking call on the holder's loop: the watchdog thread ends the lock's
    connection when the lease lapses (the server's idle timeout is set far off here, to
    see the watchdog alone), another bot gets the lock while the loop is still blocked,
    and when the loop runs again the holder is deposed and sends nothing."""
    timing = LeaseTiming(session_idle=60.0)
    async with bot_lock(database_url, database_url, timing) as (holder, alerts):
        await holder.acquire()
        await asyncio.sleep(TIMING.check_interval * 1.5)
        got: list[float] = []
        stop = threading.Event()
        other = threading.Thread(target=_compete, args=(database_url, got, stop))
        other.start()
        try:
            start = time.monotonic()
            time.sleep(timing.lease + 2.0)  # noqa: ASYNC251 - the stall under test
            blocked_until = time.monotonic()
            assert got, "nobody got the lock while the holder's loop was stalled"
            taken = got[0] - start
            print(f"\nstalled loop: lock free for another bot after {taken:.2f} s")
            assert taken <= timing.lease + timing.watchdog_tick + SLACK_S
            assert got[0] < blocked_until
        finally:
            stop.set()
            await asyncio.to_thread(other.join)
        await asyncio.wait_for(holder.lost.wait(), 1)  # the loop runs again: deposed
        assert not holder.held
        with pytest.raises(NotLeader):
            await alerts.pending()


async def test_a_deposed_bot_sends_nothing_even_while_it_thinks_it_leads(
    database_url: str,
) -> None:
    """The fencing token alone: the first bot checks its lock only once a minute (its
    lease says a minute too), so it has not noticed that another bot took over; the new
    epoch refuses its outbox, and its transport then refuses every Bot API call."""
    blind = LeaseTiming(check_interval=60.0, lease=60.0)
    state = BotApiState(token="123456:FENCE-TEST-abcdefghijklmnopqrstuvwxyz")
    state.user(7, "Ann", started=True)
    async with (
        bot_lock(database_url, database_url, blind) as (first, first_alerts),
        bot_lock(database_url, database_url) as (second, second_alerts),
        BotApiServer(state) as server,
    ):
        await first.acquire()
        request = AiohttpRequest(leadership=first.leadership)
        async with Bot(
            state.token, base_url=server.base_url, request=request, get_updates_request=request
        ) as bot:
            await bot.send_message(7, "the active bot speaks")
            await first_alerts.raise_event("account_locked", "warning", account_id="anna")
            assert len(await first_alerts.pending()) == 1

            terminate_leader_session(database_url)
            await asyncio.wait_for(second.acquire(), TIMING.retry + SLACK_S)
            assert first.held  # its lease has not lapsed: only the epoch can stop it now
            with pytest.raises(NotLeader, match="another bot took over"):
                await first_alerts.pending()
            assert not first.held  # deposed for good
            assert len(await second_alerts.pending()) == 1

            calls = len(state.calls)
            with pytest.raises(NetworkError, match="NotLeader"):
                await bot.send_message(7, "only the active bot may say this")
            assert await bot.get_updates(timeout=0) == ()  # and it confirms nothing
            assert len(state.calls) == calls  # nothing reached Telegram
            assert [m.text for m in state.messages(7)] == ["the active bot speaks"]


async def test_every_sender_asks_the_leadership_first(database_url: str) -> None:
    """What the jobs send (and mark sent) goes through Leadership.run: a standby's, or a
    deposed bot's, services refuse it all before reading anything."""
    settings = Settings(
        telegram_bot_token="123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz",
        secrets_key=decode_key(generate_key()),
        database_url=database_url,
    )
    svc = await Services.open(settings, FakeClock())
    try:
        svc.leadership.stand_by()
        senders = {
            "alerts": svc.alerts.pending(),
            "notices": svc.notices.pending(),
            "chat clean-up": svc.cleanup.due(),
            "support chat": svc.deactivation.unposted(),
            "support chat edits": svc.deactivation.support_outdated(),
            "request outcomes": svc.deactivation.users_to_tell(),
            "reminders": svc.deactivation.reminders_due(),
            "marked told": svc.deactivation.mark_user_told(1, RequestStatus.APPROVED),
            "enrolment expiry": svc.enrolment.expire_due(),
            "audit head": svc.audit_chain.post_head(),
        }
        for name, sending in senders.items():
            with pytest.raises(NotLeader):
                await sending
                pytest.fail(f"{name} was not refused")
    finally:
        await svc.close()


def test_the_lease_is_never_revived_and_the_grace_outlasts_it() -> None:
    now = [100.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    leadership = Leadership(None, TIMING, now=clock)  # type: ignore[arg-type]
    assert leadership.is_current()  # the sole sender (SQLite) until elected
    leadership.stand_by()
    assert not leadership.is_current()
    leadership.begin(7, confirmed_at=100.0)
    now[0] = 102.0
    assert leadership.is_current() and leadership.renew(101.5)
    now[0] = 104.6  # 101.5 + 3 has passed
    assert not leadership.is_current()
    assert not leadership.renew(104.5)  # a late answer does not bring it back
    now[0] = 104.7
    assert not leadership.is_current()
    assert TIMING.grace > TIMING.lease


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "data" / "twofa.sqlite3"
    first, second = SqliteGuard(database), SqliteGuard(database)
    first.acquire()
    assert (database.parent.stat().st_mode & 0o777) == 0o700
    assert (first.path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(AlreadyRunning):
        second.acquire()
    first.release()
    second.acquire()  # free again once the holder lets go (or dies)
    second.release()
