"""The election: one active bot at a time (PostgreSQL advisory lock, SQLite lock file)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.leader import AlreadyRunning, LeaderLock, SqliteGuard
from tests.pg import PostgresServer
from tests.test_e2e_postgres import terminate_leader_session


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.database() as url:
        yield url


async def test_one_holder_the_other_waits_and_takes_over_when_the_session_ends(
    database_url: str,
) -> None:
    first, second = LeaderLock(database_url), LeaderLock(database_url)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    try:
        assert await first.still_held()
        await asyncio.sleep(0.5)
        assert not waiting.done()  # a standby while the first holds the lock

        lost = asyncio.Event()
        watching = asyncio.create_task(first.watch(lost.set))
        terminate_leader_session(database_url)  # a server restart, an operator
        await asyncio.wait_for(lost.wait(), 10)  # the holder notices and would stop
        await watching
        assert not first.held
        await asyncio.wait_for(waiting, 10)  # the standby has it now
        assert second.held and await second.still_held()
    finally:
        waiting.cancel()
        await first.release()
        await second.release()


async def test_release_hands_the_lock_over(database_url: str) -> None:
    first, second = LeaderLock(database_url), LeaderLock(database_url)
    await first.acquire()
    waiting = asyncio.create_task(second.acquire())
    await first.release()
    await asyncio.wait_for(waiting, 10)
    assert await second.still_held()
    await second.release()


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
