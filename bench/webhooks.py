"""Webhook benchmark, on SQLite (the bot's settings) in-process:

1. Delivery: how many events per second the outbox delivers to a local receiver on
   127.0.0.1 (aiohttp, answering 204 at once), through the real sender (signing,
   one POST each, one transaction to mark each), to one endpoint and to four at once.
2. The cost of an event on the path of a login: the verification that locks an account
   (the fifth wrong code) timed with a webhook endpoint registered (it writes the event
   and its delivery in the same transaction) and without one, and the ratio.

Run: ``.venv/bin/python bench/webhooks.py [--events N] [--accounts N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from bot.webhook_sender import WebhookSender  # noqa: E402
from core import events, totp  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.crypto import SecretBox, decode_key, generate_key  # noqa: E402
from core.verification import Result, VerificationService  # noqa: E402
from core.webhooks import WebhookService  # noqa: E402
from storage.db import Database, open_database  # noqa: E402
from storage.repositories import Transaction  # noqa: E402


async def receiver(port: int) -> tuple[web.AppRunner, list[int]]:
    count = [0]

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        count[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, count


async def delivery_rate(db: Database, box: SecretBox, endpoints: int, total: int) -> float:
    clock = SystemClock()
    service = WebhookService(db, box, clock)
    runners = []
    for n in range(endpoints):
        runner, _ = await receiver(18700 + n)
        runners.append(runner)
        await service.add(
            f"bench{endpoints}-{n}", f"http://127.0.0.1:{18700 + n}/hooks", allow_private=True
        )
    per_batch = 200

    def raise_some(tx: Transaction) -> None:
        for i in range(per_batch):
            events.emit(
                tx,
                events.ACCOUNT_UNLOCKED,
                f"acct-{i % 50}",
                clock.now(),
                by=events.actor("system"),
            )

    for _ in range(total // per_batch):
        await db.run(raise_some)
    sender = WebhookSender(service, clock)
    started = time.perf_counter()
    while (await service.outbox()).waiting:
        await sender.tick()
        await sender.drain_all()
    elapsed = time.perf_counter() - started
    await sender.stop()
    for runner in runners:
        await runner.cleanup()
    for endpoint in await service.endpoints():
        await service.remove(endpoint.name)
    return total * endpoints / elapsed


async def seed(db: Database, box: SecretBox, accounts: list[str]) -> None:
    now = SystemClock().now()
    secret = totp.generate_secret()

    def work(tx: Transaction) -> None:
        for account in accounts:
            tx.accounts.ensure(account, now)
            device_id = f"dev-{account}"
            sealed = box.seal(secret, account_id=account, device_id=device_id)
            tx.devices.add(
                device_id,
                account,
                "Phone",
                sealed,
                created_by_user_id=None,
                last_used_step=None,
                now=now,
            )
            tx.security.ensure(account, now)

    await db.run(work)


async def lock_times(verifier: VerificationService, accounts: list[str]) -> list[float]:
    """Seconds of each locking verification (the fifth wrong code of each account)."""
    times = []
    for account in accounts:
        for _ in range(4):
            await verifier.verify(account, "000000", actor="bench")
        started = time.perf_counter()
        verdict = await verifier.verify(account, "000000", actor="bench")
        times.append(time.perf_counter() - started)
        assert verdict.result is Result.LOCKED
    return times


async def main(total: int, accounts: int) -> None:
    box = SecretBox(decode_key(generate_key()))
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        try:
            one = await delivery_rate(db, box, 1, total)
            four = await delivery_rate(db, box, 4, total)
            print(f"delivery, 1 endpoint:   {one:8.0f} events/s ({total} events)")
            print(f"delivery, 4 endpoints:  {four:8.0f} deliveries/s ({4 * total} in all)")

            verifier = VerificationService(db, box, SystemClock())
            names = [f"acct-{i}" for i in range(accounts)]
            await seed(db, box, names)
            await lock_times(verifier, names[:20])  # warm up
            service = WebhookService(db, box, SystemClock())
            plain: list[float] = []
            hooked: list[float] = []
            # Alternating rounds, so that a busy moment of the machine weighs on both.
            rounds = [names[i : i + 20] for i in range(20, len(names), 20)]
            for number, group in enumerate(rounds):
                if number % 2:
                    await service.add("siem", "https://siem.example.net/hooks")
                    hooked += await lock_times(verifier, group)
                    await service.remove("siem")
                else:
                    plain += await lock_times(verifier, group)
            p, h = statistics.median(plain), statistics.median(hooked)
            print(
                f"locking verification, median: {p * 1000:.2f} ms without a webhook, "
                f"{h * 1000:.2f} ms with one (emits account.locked): ratio {h / p:.2f} "
                f"({len(plain)} and {len(hooked)} locks)"
            )
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=300)
    options = parser.parse_args()
    asyncio.run(main(options.events, options.accounts))
