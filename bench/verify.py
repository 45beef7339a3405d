"""Verification benchmark: POST /v1/verify against the real server, and the core in-process.

A SQLite database of 10,000 enrolled accounts is seeded once; every run starts from a
fresh copy of it. Requests are logins as users make them (``Traffic``): one at a time per
account, 85% the code the account's app shows, 10% a wrong code, 5% a replay of an
accepted one, and a correct code after at most three failures in a row, so no account is
ever locked and the figures time logins, not the lock. Every verification is audited, as
always.

Prints verifications per second, p50/p99 latency and the answers (count and share of
each) for each concurrency level, over HTTP (``python -m bot`` with its API on, the load
generator in this process, the per-client rate limit lifted) and for
``VerificationService.verify`` called in-process. An account passes about one code per
time step: "no account free N times" after a run's answers says the accounts ran short
for the rate (``--accounts`` more).

In-process, each level runs with SQLite's ``synchronous=FULL`` (what the bot uses: a
COMMIT waits for its fsync) and ``NORMAL`` (no fsync per COMMIT; a power cut can take
back the last commits), one after the other, so the cost of durability is read off one
run. ``--synchronous full`` or ``normal`` runs one of them only; HTTP always runs the
bot as shipped (FULL).

PostgreSQL: ``--database postgresql://user:password@host/db`` (an empty database) or
``--database local`` (a throwaway server started here with bench/_postgres.py, fsync on, so a
COMMIT is as durable as SQLite's FULL) adds the figures on PostgreSQL, next to SQLite's:
the seeded database copied in with ``storage.copy``, then every level run on it
in-process through ``PostgresDatabase`` (its pool, its threads, SERIALIZABLE, group
commit), then over HTTP at concurrency 16 and 64 through ``python -m bot api`` (one
process) and ``python -m bot api --workers 2`` on the same database (no Telegram
needed: TELEGRAM_BOT_USERNAME is set). After each in-process run, and each HTTP run on
PostgreSQL, the audit log is counted: every verification must have its entry. The run
ends with a table of the figures side by side.

Run: ``.venv/bin/python bench/verify.py [--accounts N] [--seconds S] [--synchronous both]
[--database local|URL] [--no-http]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psycopg  # noqa: E402

from bench._postgres import local_postgresql  # noqa: E402
from bench._support import BOT_USERNAME, BotProcess, local_bot_api  # noqa: E402
from core import totp  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.crypto import SecretBox, decode_key, generate_key  # noqa: E402
from core.verification import FAILURES_PER_LOCK, VerificationService  # noqa: E402
from storage.copy import copy_sqlite_to_postgresql  # noqa: E402
from storage.db import POSTGRESQL_PREFIXES, Database  # noqa: E402
from storage.postgresql import DEFAULT_POOL_SIZE, PostgresDatabase  # noqa: E402
from storage.repositories import Transaction  # noqa: E402
from storage.sqlite import SqliteDatabase, Synchronous  # noqa: E402

API_TOKEN = "bench-api-token-0123456789abcdef"
UNLIMITED = "1000000/second"  # the load is the point here, not the per-client rate limit
LEVELS = (1, 16, 64)
HTTP_POSTGRESQL_LEVELS = (16, 64)
API_WORKERS = (1, 2)  # python -m bot api, then python -m bot api --workers 2
# What logins send: mostly the code the app shows, some typos; the rest are replays (a code
# sent again), a failure too.
SHARE_CORRECT = 0.85
SHARE_WRONG = 0.10
MOST_FAILURES_IN_A_ROW = FAILURES_PER_LOCK - 2  # then a correct code: never near a lock
SYNCHRONOUS_CHOICES: dict[str, tuple[Synchronous, ...]] = {
    "both": ("FULL", "NORMAL"),
    "full": ("FULL",),
    "normal": ("NORMAL",),
}


class Traffic:
    """Logins as users make them: one request at a time per account, mostly the code the
    account's app shows, some wrong codes (a typo), a few replays (a code sent twice).

    An account gets a correct code after at most ``MOST_FAILURES_IN_A_ROW`` failures, so
    none is ever locked (``FAILURES_PER_LOCK`` in a row would lock it) and the figures time
    what logins do, not the lock. An account passes one code per time step (the current
    one, or the next, which a phone whose clock runs a little ahead shows): an account
    that has used both waits in ``spent`` for the next step. Accounts are taken in turn;
    ``starved`` counts the times none was free (too few accounts for the rate)."""

    def __init__(self, accounts: list[tuple[str, str]], seed: int) -> None:
        self.secrets = dict(accounts)
        self.rng = random.Random(seed)
        order = [account for account, _ in accounts]
        self.rng.shuffle(order)
        self.free: deque[str] = deque(order)  # not in flight, with a code left
        self.spent: list[str] = []  # not in flight, no code left in this time step
        self.step = totp.time_step(datetime.now(UTC))
        self.accepted: dict[str, int] = {}  # account -> last step a correct code was sent for
        self.failures: Counter[str] = Counter()  # account -> failures in a row, as answered
        self.starved = 0

    def next(self) -> tuple[str, str] | None:
        """(account, code) for the next request, the account now in flight; None if no
        account is free."""
        step = totp.time_step(datetime.now(UTC))
        if step != self.step:  # a new time step: every account has a code again
            self.step = step
            self.free.extend(self.spent)
            self.spent.clear()
        while self.free:
            account = self.free.popleft()
            last = self.accepted.get(account)
            fresh = step if last is None or last < step else last + 1
            roll = self.rng.random()
            if self.failures[account] < MOST_FAILURES_IN_A_ROW and roll >= SHARE_CORRECT:
                if roll >= SHARE_CORRECT + SHARE_WRONG and last is not None:
                    return account, totp.code_at_step(self.secrets[account], last)
                return account, self._wrong_code(account, step)
            if fresh <= step + 1:
                self.accepted[account] = fresh
                return account, totp.code_at_step(self.secrets[account], fresh)
            self.spent.append(account)
        self.starved += 1
        return None

    def done(self, account: str, result: str) -> None:
        """The answer to the account's request: it is free again."""
        self.failures[account] = 0 if result == "accepted" else self.failures[account] + 1
        self.free.append(account)

    def _wrong_code(self, account: str, step: int) -> str:
        """Six digits that pass for no step the server accepts now (nor a step later)."""
        secret = self.secrets[account]
        valid = {totp.code_at_step(secret, s) for s in range(step - 2, step + 3)}
        while True:
            code = f"{self.rng.randrange(1_000_000):06d}"
            if code not in valid:
                return code


async def seed(path: Path, key: bytes, count: int) -> list[tuple[str, str]]:
    db = await SqliteDatabase.open(f"sqlite:///{path}")
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
                tx.security.ensure(account, now)  # as an activation leaves it

        return work

    for start in range(0, count, 1000):
        await db.run(insert(accounts[start : start + 1000]))
    await db.close()
    return accounts


# The figures of one run, for the table at the end: (path, concurrency) -> backend ->
# "1,234/s, p50 1.2 ms, p99 3.4 ms".
Figures = dict[tuple[str, int], dict[str, str]]


def summary(
    name: str,
    latencies: list[float],
    elapsed: float,
    results: Counter[str],
    figures: Figures | None = None,
    row: tuple[str, int] | None = None,
    column: str = "",
    waits: int = 0,
) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    p50 = statistics.median(latencies)
    mix = answer_mix(results)
    if waits:
        mix += f"; no account free {waits:,} times"
    if figures is not None and row is not None:
        figures.setdefault(row, {})[column] = (
            f"{len(latencies) / elapsed:,.0f}/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )
    return (
        f"{name}: {len(latencies) / elapsed:8.0f} verifications/s, "
        f"p50 {p50 * 1000:6.2f} ms, p99 {p99 * 1000:6.2f} ms  ({mix})"
    )


def answer_mix(results: Counter[str]) -> str:
    """Each answer with its count and share: "accepted 8,512 (85.1%), rejected ..."."""
    total = sum(results.values())
    return ", ".join(f"{k} {v:,} ({v / total:.1%})" for k, v in results.most_common())


def table(figures: Figures) -> str:
    """The figures side by side: a row per path and concurrency, a column per backend."""
    columns = ["SQLite FULL", "SQLite NORMAL", "PostgreSQL"]
    columns = [c for c in columns if any(c in cells for cells in figures.values())]
    rows = sorted(figures, key=lambda r: (_PATHS.index(r[0]), r[1]))
    labels = [f"{path}, concurrency {level}" for path, level in rows]
    width = max(len(label) for label in labels)
    cells = [[figures[r].get(c, "-") for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = [
        " " * width + " | " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    ]
    for label, line in zip(labels, cells, strict=True):
        lines.append(
            label.ljust(width)
            + " | "
            + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
        )
    return "\n".join(lines)


_PATHS = ["in-process", "HTTP, python -m bot", "HTTP, python -m bot api", "HTTP, api --workers 2"]


async def drive(call, traffic: Traffic, concurrency: int, seconds: float):
    """Closed loop: ``concurrency`` workers, each sending the next request when answered."""
    latencies: list[float] = []
    results: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds
    traffic.starved = 0

    async def worker() -> None:
        while time.perf_counter() < deadline:
            login = traffic.next()
            if login is None:  # every account busy or spent: wait for one
                await asyncio.sleep(0.01)
                continue
            account, code = login
            started = time.perf_counter()
            result = await call(account, code)
            latencies.append(time.perf_counter() - started)
            results[result] += 1
            traffic.done(account, result)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, results


AUDITED = "SELECT COUNT(*) FROM audit_log WHERE action = 'code_checked'"


def audited(tx: Transaction) -> int:
    row = tx.connection.execute(AUDITED).fetchone()
    return int(row[0])


async def measure(
    db: Database,
    key: bytes,
    traffic: Traffic,
    concurrency: int,
    seconds: float,
    label: str,
    figures: Figures | None = None,
    column: str = "",
) -> None:
    """One level on an open database: the figures, the group size, the audit check."""
    service = VerificationService(db, SecretBox(key), SystemClock())

    async def call(account: str, code: str) -> str:
        return (await service.verify(account, code, actor="api")).result.value

    commits_before, audited_before = db.commits, await db.run(audited)
    retries_before = getattr(db, "retries", 0)
    latencies, elapsed, results = await drive(call, traffic, concurrency, seconds)
    per_commit = len(latencies) / max(1, db.commits - commits_before)
    entries = await db.run(audited) - audited_before
    extra = f" [{per_commit:.1f} per commit"
    if isinstance(db, PostgresDatabase):
        extra += f", {db.retries - retries_before} run again"
    extra += f"; audited {entries}/{len(latencies)}]"
    row = ("in-process", concurrency)
    line = summary(label, latencies, elapsed, results, figures, row, column, traffic.starved)
    print(line + extra)
    if entries != len(latencies):
        raise SystemExit(f"{label}: {len(latencies)} verifications, {entries} audited")


async def in_process(
    seeded: Path,
    key: bytes,
    accounts,
    seconds: float,
    workdir: Path,
    settings: tuple[Synchronous, ...],
    figures: Figures,
) -> None:
    for concurrency in LEVELS:
        for synchronous in settings:
            copy = workdir / f"inproc-{concurrency}-{synchronous.lower()}.sqlite3"
            shutil.copy(seeded, copy)
            db = await SqliteDatabase.open(f"sqlite:///{copy}", synchronous=synchronous)
            label = f"in-process c={concurrency:<3} {synchronous:<6}"
            try:
                await measure(
                    db,
                    key,
                    Traffic(accounts, concurrency),
                    concurrency,
                    seconds,
                    label,
                    figures,
                    f"SQLite {synchronous}",
                )
            finally:
                await db.close()
                copy.unlink()


async def in_process_postgresql(
    seeded: Path,
    url: str,
    key: bytes,
    traffic: Traffic,
    seconds: float,
    pool_size: int,
    figures: Figures,
) -> None:
    """Every level on one PostgreSQL database, the seeded one copied in first. One
    ``Traffic`` for all levels (and the HTTP runs after): a code accepted in one is a
    replay in the next."""
    started = time.perf_counter()
    report = await asyncio.to_thread(copy_sqlite_to_postgresql, f"sqlite:///{seeded}", url)
    print(f"copied {report.total} rows into PostgreSQL in {time.perf_counter() - started:.1f} s")
    for concurrency in LEVELS:
        db = await PostgresDatabase.open(url, pool_size=pool_size)
        label = f"in-process c={concurrency:<3} PG/{pool_size:<3}"
        try:
            await measure(db, key, traffic, concurrency, seconds, label, figures, "PostgreSQL")
        finally:
            await db.close()


async def over_http_postgresql(
    url: str, key: bytes, traffic: Traffic, seconds: float, workdir: Path, figures: Figures
) -> None:
    """POST /v1/verify served by ``python -m bot api`` (one process), then by ``python -m
    bot api --workers 2``, on ``url``: concurrency 16 and 64 each, the audit log counted
    after each run."""
    async with local_bot_api() as server:
        for workers in API_WORKERS:
            port = _free_port()
            command = ("api",) if workers == 1 else ("api", "--workers", str(workers))
            api = BotProcess(
                server,
                workdir,
                command=command,
                name=f"api-{workers}",
                DATABASE_URL=url,
                SECRETS_KEY=_encode(key),
                API_TOKEN=API_TOKEN,
                API_RATE_LIMIT=UNLIMITED,
                API_PORT=str(port),
                TELEGRAM_BOT_USERNAME=BOT_USERNAME,  # no getMe: the API role needs no Telegram
                LOG_LEVEL="WARNING",
            )
            await api.spawn()
            try:
                await api.health({"status": "ok", "role": "api"})
                await api.until_ready(_listening(port, workers))
                path = "HTTP, python -m bot api" if workers == 1 else "HTTP, api --workers 2"
                for concurrency in HTTP_POSTGRESQL_LEVELS:
                    before = await asyncio.to_thread(_audited_postgresql, url)
                    latencies, elapsed, results = await _load(port, traffic, concurrency, seconds)
                    entries = await asyncio.to_thread(_audited_postgresql, url) - before
                    label = f"HTTP w={workers} c={concurrency:<3} PG    "
                    line = summary(
                        label,
                        latencies,
                        elapsed,
                        results,
                        figures,
                        (path, concurrency),
                        "PostgreSQL",
                        traffic.starved,
                    )
                    print(f"{line} [audited {entries}/{len(latencies)}]")
                    if entries != len(latencies):
                        raise SystemExit(
                            f"{label}: {len(latencies)} verifications, {entries} audited"
                        )
            finally:
                await api.terminate()


async def _listening(port: int, sockets: int) -> None:
    """Until ``sockets`` sockets listen on the port (each worker has its own, SO_REUSEPORT);
    without Linux's /proc/net/tcp to tell, the health check has to do."""
    for _ in range(300):
        count = _listening_sockets(port)
        if count is None or count >= sockets:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"fewer than {sockets} API workers listen on port {port} after 30 s")


def _listening_sockets(port: int) -> int | None:
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    fields = [line.split() for line in lines]
    return sum(1 for f in fields if f[1].endswith(f":{port:04X}") and f[3] == "0A")


def _audited_postgresql(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(AUDITED).fetchone()
        return 0 if row is None else int(row[0])


async def _load(
    port: int, traffic: Traffic, concurrency: int, seconds: float
) -> tuple[list[float], float, Counter[str]]:
    """``concurrency`` clients (one connection each) posting to /v1/verify for ``seconds``."""
    url = f"http://127.0.0.1:{port}/v1/verify"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def call(account: str, code: str) -> str:
            async with http.post(url, json={"account": account, "code": code}) as response:
                if response.status != 200:  # e.g. 429: a rate limit would cap the figures
                    return f"HTTP {response.status}"
                return str((await response.json())["result"])

        return await drive(call, traffic, concurrency, seconds)


async def over_http(
    seeded: Path, key: bytes, accounts, seconds: float, workdir: Path, figures: Figures
) -> None:
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
                API_RATE_LIMIT=UNLIMITED,
                API_PORT=str(port),
                LOG_LEVEL="WARNING",
            )
            await bot.start()
            try:
                traffic = Traffic(accounts, concurrency)
                latencies, elapsed, results = await _load(port, traffic, concurrency, seconds)
                row = ("HTTP, python -m bot", concurrency)
                label = f"HTTP       c={concurrency:<3} FULL  "
                column = "SQLite FULL"
                print(
                    summary(
                        label, latencies, elapsed, results, figures, row, column, traffic.starved
                    )
                )
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
        figures: Figures = {}
        if args.http:
            await over_http(seeded, key, accounts, args.seconds, workdir, figures)
        settings: tuple[Synchronous, ...] = SYNCHRONOUS_CHOICES[args.synchronous]
        await in_process(seeded, key, accounts, args.seconds, workdir, settings, figures)
        if args.database != "sqlite":
            with contextlib.ExitStack() as stack:
                url = args.database
                if url == "local":
                    url = stack.enter_context(local_postgresql())
                traffic = Traffic(accounts, 1)
                await in_process_postgresql(
                    seeded, url, key, traffic, args.seconds, args.pool_size, figures
                )
                if args.http:
                    await over_http_postgresql(url, key, traffic, args.seconds, workdir, figures)
        print()
        print(table(figures))


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
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (only), local (also a throwaway PostgreSQL server) or a postgresql:// URL"
        " of an empty database (also there)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=DEFAULT_POOL_SIZE, help="PostgreSQL connections"
    )
    parser.add_argument("--no-http", dest="http", action="store_false", help="in-process only")
    args = parser.parse_args()
    if args.database not in ("sqlite", "local") and not args.database.startswith(
        POSTGRESQL_PREFIXES
    ):
        parser.error("--database takes sqlite, local or a postgresql:// URL")
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
