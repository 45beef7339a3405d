"""Verification benchmark: POST /v1/verify against the real server, and the core in-process.

A SQLite database of 10,000 enrolled accounts is seeded once; every run starts from a
fresh copy of it. Requests mix correct codes (a fresh time step of the account's app),
wrong codes and replays of an accepted code; every verification is audited, as always.

Prints verifications per second and p50/p99 latency for each concurrency level, over
HTTP (``python -m bot`` with its API on, the load generator in this process) and for
``VerificationService.verify`` called in-process.

In-process, each level runs with SQLite's ``synchronous=FULL`` (what the bot uses: a
COMMIT waits for its fsync) and ``NORMAL`` (no fsync per COMMIT; a power cut can take
back the last commits), one after the other, so the cost of durability is read off one
run. ``--synchronous full`` or ``normal`` runs one of them only; HTTP always runs the
bot as shipped (FULL).

Run: ``.venv/bin/python bench/verify.py [--accounts N] [--seconds S] [--synchronous both]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bot import totp  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.crypto import SecretBox, decode_key, generate_key  # noqa: E402
from bot.verification import VerificationService  # noqa: E402
from storage.db import Database, Synchronous  # noqa: E402
from storage.repositories import Transaction  # noqa: E402
from tests.e2e import BotProcess, local_bot_api  # noqa: E402

API_TOKEN = "bench-api-token-0123456789abcdef"
LEVELS = (1, 16, 64)
SYNCHRONOUS_CHOICES: dict[str, tuple[Synchronous, ...]] = {
    "both": ("FULL", "NORMAL"),
    "full": ("FULL",),
    "normal": ("NORMAL",),
}


class Traffic:
    """Which account and code the next request carries: 50% correct, 30% wrong, 20% replay."""

    def __init__(self, accounts: list[tuple[str, str]], seed: int) -> None:
        self.accounts = accounts
        self.rng = random.Random(seed)
        self.accepted: dict[str, int] = {}  # account -> last step a correct code was sent for

    def next(self) -> tuple[str, str, str]:
        account, secret = self.rng.choice(self.accounts)
        step = totp.time_step(datetime.now(UTC))
        roll = self.rng.random()
        last = self.accepted.get(account)
        if roll < 0.5:
            fresh = step if last is None or last < step else last + 1
            if fresh <= step + 1:
                self.accepted[account] = fresh
                return account, totp.code_at_step(secret, fresh), "correct"
        if roll >= 0.8 and last is not None:
            return account, totp.code_at_step(secret, last), "replay"
        return account, f"{self.rng.randrange(1_000_000):06d}", "wrong"


async def seed(path: Path, key: bytes, count: int) -> list[tuple[str, str]]:
    db = await Database.open(f"sqlite:///{path}")
    box = SecretBox(key)
    now = datetime.now(UTC)
    accounts = [(f"user{i}@example.com", totp.generate_secret()) for i in range(count)]

    def insert(chunk: list[tuple[str, str]]):
        def work(tx: Transaction) -> None:
            for account, secret in chunk:
                tx.accounts.ensure(account, now)
                device_id = uuid.uuid4().hex
                sealed = box.seal(secret, account_id=account, device_id=device_id)
                tx.devices.add(device_id, account, "Phone", sealed, None, None, now)

        return work

    for start in range(0, count, 1000):
        await db.run(insert(accounts[start : start + 1000]))
    await db.close()
    return accounts


def summary(name: str, latencies: list[float], elapsed: float, results: Counter[str]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    mix = ", ".join(f"{k} {v / len(latencies):.0%}" for k, v in results.most_common())
    return (
        f"{name}: {len(latencies) / elapsed:8.0f} verifications/s, "
        f"p50 {statistics.median(latencies) * 1000:6.2f} ms, p99 {p99 * 1000:6.2f} ms  ({mix})"
    )


async def drive(call, traffic: Traffic, concurrency: int, seconds: float):
    """Closed loop: ``concurrency`` workers, each sending the next request when answered."""
    latencies: list[float] = []
    results: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            account, code, _ = traffic.next()
            started = time.perf_counter()
            result = await call(account, code)
            latencies.append(time.perf_counter() - started)
            results[result] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, results


async def in_process(
    seeded: Path,
    key: bytes,
    accounts,
    seconds: float,
    workdir: Path,
    settings: tuple[Synchronous, ...],
) -> None:
    for concurrency in LEVELS:
        for synchronous in settings:
            copy = workdir / f"inproc-{concurrency}-{synchronous.lower()}.sqlite3"
            shutil.copy(seeded, copy)
            db = await Database.open(f"sqlite:///{copy}", synchronous=synchronous)
            service = VerificationService(db, SecretBox(key), SystemClock())

            async def call(account: str, code: str, service=service) -> str:
                return (await service.verify(account, code, actor="api")).result.value

            commits_before = db.commits
            latencies, elapsed, results = await drive(
                call, Traffic(accounts, concurrency), concurrency, seconds
            )
            per_commit = len(latencies) / max(1, db.commits - commits_before)
            await db.close()
            copy.unlink()
            print(
                summary(
                    f"in-process c={concurrency:<3} {synchronous:<6}", latencies, elapsed, results
                )
                + f" [{per_commit:.1f} per commit]"
            )


async def over_http(seeded: Path, key: bytes, accounts, seconds: float, workdir: Path) -> None:
    async with local_bot_api() as server:
        for concurrency in LEVELS:
            run_dir = workdir / f"http-{concurrency}"
            (run_dir / "data").mkdir(parents=True)
            shutil.copy(seeded, run_dir / "data" / "twofa.sqlite3")
            port = _free_port()
            bot = BotProcess(
                server,
                run_dir,
                SECRETS_KEY=_encode(key),
                API_TOKEN=API_TOKEN,
                API_PORT=str(port),
                LOG_LEVEL="WARNING",
            )
            await bot.start()
            url = f"http://127.0.0.1:{port}/v1/verify"
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            connector = aiohttp.TCPConnector(limit=concurrency)
            try:
                async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

                    async def call(account: str, code: str, http=http, url=url) -> str:
                        async with http.post(url, json={"account": account, "code": code}) as r:
                            return (await r.json())["result"]

                    latencies, elapsed, results = await drive(
                        call, Traffic(accounts, concurrency), concurrency, seconds
                    )
                print(summary(f"HTTP       c={concurrency:<3}", latencies, elapsed, results))
            finally:
                await bot.terminate()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _encode(key: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(key).decode()


async def run(args: argparse.Namespace) -> None:
    key = decode_key(generate_key())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seeded = workdir / "seed.sqlite3"
        started = time.perf_counter()
        accounts = await seed(seeded, key, args.accounts)
        print(f"seeded {args.accounts} enrolled accounts in {time.perf_counter() - started:.1f} s")
        await over_http(seeded, key, accounts, args.seconds, workdir)
        settings: tuple[Synchronous, ...] = SYNCHRONOUS_CHOICES[args.synchronous]
        await in_process(seeded, key, accounts, args.seconds, workdir, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per concurrency level")
    parser.add_argument(
        "--synchronous",
        choices=sorted(SYNCHRONOUS_CHOICES),
        default="both",
        help="SQLite synchronous setting(s) for the in-process runs",
    )
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
