"""What a recovery code costs since codes are salted scrypt hashes (core/recovery.py).

Prints, on this machine:
- one salted hash (scrypt, N=2^10, r=8: what a login with a recovery code computes once)
  beside one keyed hash of before (HMAC-SHA256);
- a new set of ten codes (made off the event loop, outside the transaction);
- ``VerificationService.verify`` on a throwaway SQLite database: a six-digit code that is
  wrong, a wrong recovery code, and a right one (each spends the code, so a fresh account
  each time), p50 and p99; a wrong one counts toward the lockout, so each account gets
  at most four.

Run: ``.venv/bin/python bench/recovery_hash.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import totp  # noqa: E402
from core.accounts import TelegramIdentity  # noqa: E402
from core.clock import FakeClock  # noqa: E402
from core.crypto import SecretBox, decode_key, generate_key  # noqa: E402
from core.enrolment import EnrolmentService  # noqa: E402
from core.enrolment_results import EnrolmentStarted  # noqa: E402
from core.recovery import generate_code, new_set, normalize, salted_hash  # noqa: E402
from core.verification import Result, VerificationService  # noqa: E402
from storage.db import Database, open_database  # noqa: E402


def timed(work: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls."""
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def line(name: str, spent: list[float]) -> str:
    ordered = sorted(spent)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"  {name:<46} p50 {statistics.median(spent):7.2f} ms   p99 {p99:7.2f} ms"


async def enrol(
    db: Database, box: SecretBox, clock: FakeClock, user_id: int
) -> tuple[str, list[str]]:
    """An account with a device and ten recovery codes: (account, codes)."""
    who = TelegramIdentity(user_id, f"user{user_id}", f"User {user_id}")
    service = EnrolmentService(db, box, clock, issuer="bench")
    started = await service.start(who, user_id)
    assert isinstance(started, EnrolmentStarted)
    await service.submit(user_id, totp.code_at_step(started.secret, totp.time_step(clock.now())))
    await service.submit(user_id, "Phone")
    done = await service.complete(user_id, started.enrolment.id)
    return f"tg:{user_id}", list(done.recovery_codes)


async def logins(runs: int) -> None:
    box = SecretBox(decode_key(generate_key()))
    clock = FakeClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(f"sqlite:///{folder}/bench.sqlite3")
        try:
            verifier = VerificationService(db, box, clock)
            accounts = [await enrol(db, box, clock, 5000 + n) for n in range(runs // 2 + 1)]
            clock.advance(seconds=90)
            wrong_totp: list[float] = []
            wrong_code: list[float] = []
            right_code: list[float] = []

            async def verify_once(account: str, code: str) -> float:
                start = time.perf_counter()
                await verifier.verify(account, code, actor="bench")
                return (time.perf_counter() - start) * 1000

            for index, (account, codes) in enumerate(accounts):
                wrong_totp.append(await verify_once(account, "000000"))
                wrong_code.append(await verify_once(account, generate_code()))
                for code in codes[:2]:
                    right_code.append(await verify_once(account, code))
                verdict = await verifier.verify(account, codes[2], actor="bench")
                assert verdict.result is Result.ACCEPTED, (index, verdict)
        finally:
            await db.close()
    print("verify (SQLite, one process, this machine):")
    print(line("a wrong six-digit code", wrong_totp))
    print(line("a wrong recovery code (the account has codes)", wrong_code))
    print(line("a right recovery code", right_code))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    canonical = normalize(generate_code()) or ""
    salt, key = os.urandom(16), os.urandom(32)
    print(f"on {os.cpu_count()} cores, {args.runs} runs each:")
    print(
        line(
            "one salted hash (scrypt N=2^10, r=8, p=1)",
            timed(lambda: salted_hash(canonical, salt), args.runs),
        )
    )
    print(
        line(
            "one keyed hash of before (HMAC-SHA256)",
            timed(lambda: hmac.new(key, canonical.encode(), hashlib.sha256).digest(), args.runs),
        )
    )
    print(line("a new set of ten codes", timed(new_set, max(10, args.runs // 10))))
    asyncio.run(logins(args.runs))


if __name__ == "__main__":
    main()
