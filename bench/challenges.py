"""Login approvals in the chat: how fast a long poll learns of a press, and how many
waiting long polls one API process holds.

1. **Press to answer.** A challenge is opened over HTTP, ``GET /v1/challenges/{id}
   ?wait=25`` waits, and the press is taken by the core (``ChallengeService.press``, what
   the bot's button handler calls once the press reached it). Timed: from the call of
   ``press`` to the long poll's answer arriving at the client. Two set-ups:
   - *same process*: the press is taken in the API's own process (SQLite, and the bot's
     own API on PostgreSQL): the poll is woken at once;
   - *other process* (PostgreSQL only; SQLite runs everything in one process): the press
     is taken by another ``Services`` on the same database (its own connections), as a
     bot beside ``python -m bot api`` does: the API's watch finds the decision in its
     next look at the rows (every 0.2 s).
2. **Waiting polls.** ``--polls`` (1,000) challenges, each long-polled at once over
   HTTP (``wait=25``) against one API; the process's resident memory before and while
   they wait, and the watch's one query per look (its time, for all of them).

SQLite by default; ``--database local`` runs the same on a throwaway PostgreSQL
(bench/_postgres.py, fsync on). Run: ``.venv/bin/python bench/challenges.py [--rounds N] [--polls N]
[--database local]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from api.server import build_api  # noqa: E402
from bench._postgres import local_postgresql  # noqa: E402
from core import totp  # noqa: E402
from core.accounts import TelegramIdentity  # noqa: E402
from core.challenges import ChallengeMessage  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.crypto import generate_key  # noqa: E402
from core.services import Services  # noqa: E402
from storage.repositories import Transaction  # noqa: E402

API_TOKEN = "bench-challenges-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
UNLIMITED = "1000000/second"
FIRST_USER = 500_000


def rss_mib() -> float:
    """This process's resident memory now (Linux: /proc/self/statm), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


async def seed(services: Services, count: int) -> list[str]:
    """``count`` accounts with a device and a Telegram user each."""
    box = services.settings.keyring()
    now = datetime.now(UTC)
    accounts = [f"bench{i}@example.com" for i in range(count)]

    def insert(chunk: list[str], offset: int):
        def work(tx: Transaction) -> None:
            for n, account in enumerate(chunk):
                tx.accounts.ensure(account, now)
                device_id = uuid.uuid4().hex
                sealed = box.seal(totp.generate_secret(), account_id=account, device_id=device_id)
                tx.devices.add(device_id, account, "Phone", sealed, None, None, now)
                tx.security.ensure(account, now)
                user_id = FIRST_USER + offset + n
                tx.accounts.save_link(user_id, account, None, "Bench", now)

        return work

    for start in range(0, count, 500):
        await services.db.run(insert(accounts[start : start + 500], start))
    return accounts


async def open_challenge(http: aiohttp.ClientSession, base: str, account: str) -> dict:
    async with http.post(f"{base}/v1/challenges", json={"account": account}, headers=AUTH) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def poll(http: aiohttp.ClientSession, base: str, challenge_id: str) -> tuple[str, float]:
    async with http.get(f"{base}/v1/challenges/{challenge_id}?wait=25", headers=AUTH) as r:
        body = await r.json()
        return body.get("status", body.get("error")), time.perf_counter()


async def press_to_answer(
    api_services: Services,
    presser: Services,
    http: aiohttp.ClientSession,
    base: str,
    accounts: list[str],
    rounds: int,
) -> list[float]:
    """Milliseconds from the press to the long poll's answer, ``rounds`` times."""
    timings = []
    for i in range(rounds):
        account = accounts[i % len(accounts)]
        user_id = FIRST_USER + int(account.removeprefix("bench").split("@")[0])
        challenge = await open_challenge(http, base, account)
        message = ChallengeMessage(challenge["id"], user_id, 1, "en")
        await presser.db.run(functools.partial(_add_message, message=message))
        waiting = asyncio.ensure_future(poll(http, base, challenge["id"]))
        await asyncio.sleep(0.05 + (i % 7) * 0.031)  # the poll waits; presses land anywhere
        who = TelegramIdentity(user_id, None, "Bench")
        started = time.perf_counter()
        pressed = await presser.challenges.press(challenge["id"], who, challenge["number"], 1)
        assert pressed.result.value == "accepted", pressed
        status, answered = await waiting
        assert status == "accepted", status
        timings.append((answered - started) * 1000)
    return timings


def _add_message(tx: Transaction, message: ChallengeMessage) -> None:
    tx.challenges.add_message(message)


def _statuses(tx: Transaction, ids: list[str]) -> object:
    return tx.challenges.statuses(ids)


def percentiles(timings: list[float]) -> str:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, "
        f"max {ordered[-1]:.1f} ms (n={len(ordered)})"
    )


async def waiting_polls(
    services: Services, http: aiohttp.ClientSession, base: str, accounts: list[str]
) -> None:
    before = rss_mib()
    challenges = [await open_challenge(http, base, account) for account in accounts]
    opened = rss_mib()
    polls = [asyncio.ensure_future(poll(http, base, c["id"])) for c in challenges]
    watch = services.challenges.watch
    for _ in range(200):  # until every poll waits (at most 20 s)
        if watch.waiting >= len(polls):
            break
        await asyncio.sleep(0.1)
    ids = [c["id"] for c in challenges]
    looks = []
    for _ in range(20):
        started = time.perf_counter()
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            await services.db.run(functools.partial(_statuses, ids=batch))
        looks.append((time.perf_counter() - started) * 1000)
    holding = rss_mib()
    print(
        f"  {watch.waiting} long polls waiting in one API process (this process: the API "
        f"and its {len(polls)} clients)"
    )
    print(
        f"  memory: {before:.0f} MiB before, {opened:.0f} MiB with the challenges open, "
        f"{holding:.0f} MiB while they wait: {holding - opened:.1f} MiB for {len(polls)} "
        f"waiting polls, client side included ({(holding - opened) * 1024 / len(polls):.1f} "
        "KiB each)"
    )
    print(
        f"  the watch's look at all of them (one query per 500): median "
        f"{statistics.median(looks):.1f} ms, every 0.2 s"
    )
    for challenge in challenges:
        await services.challenges.cancel(challenge["id"], actor="api:API_TOKEN")
    results = await asyncio.gather(*polls)
    assert all(status == "cancelled" for status, _ in results), results[:3]


async def run(database_url: str, label: str, rounds: int, polls: int) -> None:
    settings = Settings(
        telegram_bot_token="123456:" + "A" * 35,
        secrets_key=__import__("base64").urlsafe_b64decode(generate_key()),
        database_url=database_url,
        api_token=API_TOKEN,
        api_rate_limit=UNLIMITED,
    )
    settings = dataclasses.replace(settings, challenge_ttl=settings.challenge_ttl * 10)
    clock = SystemClock()
    services = await Services.open(settings, clock)
    other = await Services.open(settings, clock)
    runner: web.AppRunner | None = None
    try:
        accounts = await seed(services, max(polls, 50))
        app = build_api(services, "bench_bot")
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            print(f"{label}: press to long-poll answer")
            same = await press_to_answer(services, services, http, base, accounts[:25], rounds)
            print(f"  same process:  {percentiles(same)}")
            if services.db.backend == "postgresql":  # SQLite: one process only
                apart = await press_to_answer(services, other, http, base, accounts[25:50], rounds)
                print(f"  other process: {percentiles(apart)}")
            print(f"{label}: {polls} long polls at once")
            await waiting_polls(services, http, base, accounts[:polls])
    finally:
        if runner is not None:
            await runner.cleanup()
        await other.close()
        await services.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--database", choices=["sqlite", "local"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        if args.database == "sqlite":
            url = f"sqlite:///{workdir}/bench.sqlite3"
            await run(url, "SQLite", args.rounds, args.polls)
        else:
            with local_postgresql() as url:
                await run(url, "PostgreSQL", args.rounds, args.polls)


if __name__ == "__main__":
    asyncio.run(main())
