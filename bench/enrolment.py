"""Enrolment benchmark: simulated users against a real ``python -m bot`` process.

The local Bot API test server runs in this process; the bot runs in its own. Each
simulated user sends /enroll, decodes the QR photo it receives (zxing-cpp), computes
the code from it, sends the code and a device name, and presses Complete activation.

Prints:
- the cost of rendering one QR code (in this process);
- p50/p99 from a user's message to the bot's answer at a steady rate (default 10
  enrolments per second);
- completed enrolments per second when many users (default 1,000) start at once;
- the bot process's peak memory (VmHWM).

Run: ``make bench`` or ``.venv/bin/python bench/enrolment.py [--users N] [--rate R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402
    BotProcess,
    local_bot_api,
)
from core import totp  # noqa: E402
from core.qr import render_qr_png  # noqa: E402
from demo.authenticator import read_qr  # noqa: E402
from demo.botapi import BotApiServer, SimMessage  # noqa: E402

TIMEOUT = 120.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


class SimulatedUser:
    def __init__(self, server: BotApiServer, user_id: int, latencies: list[float]) -> None:
        self.server = server
        self.state = server.state
        self.user_id = user_id
        self.latencies = latencies
        self.state.user(user_id, f"User{user_id}")

    async def _answer(self, expect: str, action: object) -> SimMessage:
        started = time.perf_counter()
        # action() queues the update; the wait starts after it, as a user's would.
        action()  # type: ignore[operator]
        message = await self.state.wait_for_message(
            self.user_id, lambda m: expect in m.content, timeout=TIMEOUT
        )
        self.latencies.append(time.perf_counter() - started)
        return message

    async def enrol(self) -> None:
        photo = await self._answer(
            "scan this QR code", lambda: self.state.send_text(self.user_id, "/enroll")
        )
        assert photo.photo is not None
        uri = await asyncio.to_thread(read_qr, photo.photo)
        assert uri is not None, "no QR code in the photo"
        secret = parse_qs(urlparse(uri).query)["secret"][0]
        code = totp.code_at_step(secret, totp.time_step(datetime.now(UTC)))
        await self._answer("Code confirmed", lambda: self.state.send_text(self.user_id, code))
        summary = await self._answer(
            "Ready to activate", lambda: self.state.send_text(self.user_id, f"Phone {self.user_id}")
        )
        complete = dict(summary.buttons)["Complete activation"]
        await self._answer(
            "2FA is active",
            lambda: self.state.press_button(self.user_id, summary.message_id, complete),
        )


def qr_render_cost(samples: int = 200) -> float:
    uri = "otpauth://totp/2FA%20Desk:tg%3A1234567890?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=2FA%20Desk"
    render_qr_png(uri)  # warm up imports
    started = time.perf_counter()
    for _ in range(samples):
        render_qr_png(uri)
    return (time.perf_counter() - started) / samples


def process_tree(pid: int) -> list[int]:
    """The bot and its children (the QR worker process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


def peak_memory_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of the process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(bot_pid: int) -> dict[str, float]:
    pids = process_tree(bot_pid)
    snapshot = {"bot": cpu_seconds(bot_pid), "simulator+server": time.process_time()}
    for child in pids[1:]:
        snapshot[child_name(child)] = cpu_seconds(child)
    return snapshot


def child_name(pid: int) -> str:
    """The bot's children: the QR worker and multiprocessing's resource tracker."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    return "resource tracker" if b"resource_tracker" in cmdline else "QR worker"


async def steady(server: BotApiServer, rate: float, seconds: float, first_id: int) -> list[float]:
    latencies: list[float] = []
    tasks = []
    count = int(rate * seconds)
    started = time.perf_counter()
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        user = SimulatedUser(server, first_id + i, latencies)
        tasks.append(asyncio.create_task(user.enrol()))
    await asyncio.gather(*tasks)
    return latencies


async def burst(server: BotApiServer, users: int, first_id: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    simulated = [SimulatedUser(server, first_id + i, latencies) for i in range(users)]
    started = time.perf_counter()
    await asyncio.gather(*(user.enrol() for user in simulated))
    return time.perf_counter() - started, latencies


async def run(args: argparse.Namespace) -> None:
    print(f"QR render: {qr_render_cost() * 1000:.2f} ms per code (PNG, error correction M)")
    with tempfile.TemporaryDirectory() as workdir:
        async with local_bot_api() as server:
            bot = BotProcess(
                server, Path(workdir), LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING")
            )
            await bot.start()
            assert bot.proc is not None
            try:
                latencies = await steady(server, args.rate, args.seconds, 1_000_000)
                print(
                    f"steady {args.rate:g} enrolments/s for {args.seconds:g} s "
                    f"({len(latencies)} messages): answer "
                    f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
                    f"p99 {percentile(latencies, 99) * 1000:.1f} ms, "
                    f"max {max(latencies) * 1000:.1f} ms"
                )
                calls_before = len(server.state.calls)
                before = cpu_snapshot(bot.proc.pid)
                elapsed, burst_latencies = await burst(server, args.users, 2_000_000)
                after = cpu_snapshot(bot.proc.pid)
                print(
                    f"burst: {args.users} users at once, all enrolled in {elapsed:.2f} s = "
                    f"{args.users / elapsed:.1f} enrolments/s "
                    f"(answer p50 {statistics.median(burst_latencies) * 1000:.0f} ms, "
                    f"p99 {percentile(burst_latencies, 99) * 1000:.0f} ms)"
                )
                spent = ", ".join(
                    f"{name} {(after[name] - before.get(name, 0.0)) / args.users * 1000:.1f} ms"
                    for name in after
                )
                print(f"CPU per enrolment in the burst: {spent}")
                methods = Counter(name for name, _ in server.state.calls[calls_before:])
                print(
                    "Bot API calls per enrolment: "
                    + ", ".join(f"{name} {n / args.users:.2f}" for name, n in methods.most_common())
                )
                pids = process_tree(bot.proc.pid)
                peaks = [peak_memory_mb(pid) for pid in pids]
                print(
                    f"bot peak memory (VmHWM): {peaks[0]:.1f} MB main process"
                    + "".join(
                        f" + {peak:.1f} MB {child_name(pid)}"
                        for pid, peak in zip(pids[1:], peaks[1:], strict=True)
                    )
                    + f" = {sum(peaks):.1f} MB"
                )
            finally:
                if os.environ.get("BENCH_SHOW_LOG"):
                    print(bot.log()[-5000:], file=sys.stderr)
                code = await bot.terminate()
                if code != 0:
                    print(bot.log()[-3000:], file=sys.stderr)
                    raise SystemExit(f"bot exited with {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="users starting at once")
    parser.add_argument("--rate", type=float, default=10.0, help="steady enrolments per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the steady phase")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
