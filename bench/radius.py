"""RADIUS and PAM benchmark: what the hop through FreeRADIUS, and a PAM login, cost.

One ``python -m bot`` (API on, a seeded SQLite database of enrolled accounts, a stand-in
for the Bot API written here) and one ``freeradius -f`` with the shipped
deploy/freeradius files. At concurrency 1 and 16, for ``--seconds`` each:

- ``POST /v1/verify`` straight to the API (aiohttp client);
- Access-Requests to FreeRADIUS (a small RADIUS client here, one UDP socket per
  concurrent client; each request is answered before the client sends the next),
  FreeRADIUS asking ``POST /v1/radius/check``.

Both get the same traffic: half correct codes (a step of the account's app not used yet),
half wrong ones, over many accounts. Printed: requests/s, p50 and p99 latency, and the
RADIUS figures as a ratio of the direct ones. FreeRADIUS's ``reject_delay`` (a second's
pause before each Access-Reject, against guessing) is set to 0 in the copy of its
configuration: it would measure the pause, not the hop.

Then PAM: ``pamtester`` under pam_wrapper with the shipped deploy/pam/twofa_desk.py in
``pam_python.so``, one authentication after another, against the same API; beside it the
same with ``pam_permit.so`` alone (what pamtester and PAM cost without the module).

Needs freeradius, freeradius-rest, freeradius-utils, libpam-python, pamtester,
libpam-wrapper (Debian). Run: ``.venv/bin/python bench/radius.py [--seconds S]
[--accounts N] [--pam-runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from core import totp  # noqa: E402
from core.crypto import SecretBox, decode_key, generate_key  # noqa: E402
from storage.repositories import Transaction  # noqa: E402
from storage.sqlite import SqliteDatabase  # noqa: E402

BOT_TOKEN = "123456:BENCH-RADIUS-abcdefghijklmnopqrstuvwxyz"
API_TOKEN = "bench-radius-token-0123456789abcdef"
RADIUS_SECRET = "bench-radius-secret"
LEVELS = (1, 16)
STOCK_RADDB = Path("/etc/freeradius/3.0")
PAM_PYTHON_PATHS = ("/lib/security/pam_python.so", "/lib/x86_64-linux-gnu/security/pam_python.so")
PAM_PERMIT_PATHS = ("/lib/x86_64-linux-gnu/security/pam_permit.so", "/lib/security/pam_permit.so")
PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"


# -- the bot and what it needs ---------------------------------------------------------


async def seed(path: Path, key: bytes, count: int) -> list[tuple[str, str]]:
    """``count`` accounts with one device each, as an activation leaves them."""
    db = await SqliteDatabase.open(f"sqlite:///{path}")
    box = SecretBox(key)
    now = datetime.now(UTC)
    accounts = [(f"user{i}@example.com", totp.generate_secret()) for i in range(count)]

    def insert(chunk: list[tuple[str, str]]) -> Any:
        def work(tx: Transaction) -> None:
            for account, secret in chunk:
                tx.accounts.ensure(account, now)
                device_id = uuid.uuid4().hex
                sealed = box.seal(secret, account_id=account, device_id=device_id)
                tx.devices.add(device_id, account, "Phone", sealed, None, None, now)
                tx.security.ensure(account, now)

        return work

    for start in range(0, count, 1000):
        await db.run(insert(accounts[start : start + 1000]))
    await db.close()
    return accounts


async def stand_in_bot_api() -> tuple[web.AppRunner, str]:
    """Just enough of the Bot API for ``python -m bot`` to start and poll: no updates."""

    async def method(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        if name == "getMe":
            result: Any = {
                "id": 123456,
                "is_bot": True,
                "first_name": "2FA Desk",
                "username": "bench_bot",
            }
        elif name == "getUpdates":
            data = await request.post() if request.body_exists else {}
            wait = float(str(data.get("timeout", "0")) or 0)
            await asyncio.sleep(min(wait, 1.0))
            result = []
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", method)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port(socket.SOCK_STREAM)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/bot"


async def start_bot(workdir: Path, key: bytes, bot_api: str, api_port: int) -> Any:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SECRETS"))},
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_BASE_URL": bot_api,
        "TELEGRAM_BASE_FILE_URL": bot_api.replace("/bot", "/file/bot"),
        "TELEGRAM_BOT_USERNAME": "bench_bot",
        "SECRETS_KEY": encode_key(key),
        "DATABASE_URL": f"sqlite:///{workdir / 'data' / 'twofa.sqlite3'}",
        "API_TOKEN": API_TOKEN,
        "API_PORT": str(api_port),
        "LOG_LEVEL": "WARNING",
    }
    log = (workdir / "bot.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=workdir, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{api_port}/healthz"
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise RuntimeError(f"python -m bot exited:\n{(workdir / 'bot.log').read_text()}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("python -m bot did not answer /healthz")


# -- FreeRADIUS --------------------------------------------------------------------------


def build_raddb(target: Path) -> Path:
    shutil.copytree(STOCK_RADDB, target, symlinks=True)
    for site in (target / "sites-enabled").iterdir():
        site.unlink()
    (target / "mods-enabled" / "eap").unlink()
    shipped = ROOT / "deploy" / "freeradius"
    for kind in ("mods", "sites"):
        link = target / f"{kind}-enabled" / "twofa_desk"
        link.symlink_to(shipped / f"{kind}-available" / "twofa_desk")
    conf = target / "radiusd.conf"
    conf.write_text(re.sub(r"(?m)^(\s*reject_delay\s*=\s*)\S+", r"\g<1>0", conf.read_text()))
    if os.geteuid() == 0:  # radiusd reads it as freerad
        for path in (target, *target.rglob("*")):
            if not path.is_symlink():
                shutil.chown(path, "freerad", "freerad")
        for folder in (target, *target.parents):
            folder.chmod(folder.stat().st_mode | 0o001)
    return target


async def start_freeradius(raddb: Path, api_port: int, log_path: Path) -> tuple[Any, int]:
    port = free_port(socket.SOCK_DGRAM)
    env = {
        **os.environ,
        "TWOFA_DESK_URL": f"http://127.0.0.1:{api_port}",
        "TWOFA_DESK_TOKEN": API_TOKEN,
        "TWOFA_DESK_RADIUS_PORT": str(port),
        "TWOFA_DESK_RADIUS_SECRET": RADIUS_SECRET,
    }
    log = log_path.open("ab")
    proc = await asyncio.create_subprocess_exec(
        "freeradius", "-f", "-l", "stdout", "-d", str(raddb), env=env, stdout=log, stderr=log
    )
    for _ in range(200):
        if "Ready to process requests" in read_log(log_path):
            return proc, port
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    raise RuntimeError(f"freeradius did not start:\n{read_log(log_path)}")


def read_log(path: Path) -> str:
    return path.read_text(errors="replace")


class RadiusClient(asyncio.DatagramProtocol):
    """One UDP socket, one Access-Request at a time (RFC 2865, with RFC 3579's
    Message-Authenticator); ``ask`` returns True for Access-Accept."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] | None = None
        self.identifier = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(data)

    async def ask(self, transport: Any, user: str, password: str) -> bool:
        self.identifier = (self.identifier + 1) % 256
        authenticator = secrets.token_bytes(16)
        attributes = attribute(1, user.encode()) + attribute(2, hide(password, authenticator))
        attributes += attribute(80, bytes(16))
        header = struct.pack("!BBH", 1, self.identifier, 20 + len(attributes))
        packet = header + authenticator + attributes
        signature = hmac.new(RADIUS_SECRET.encode(), packet, hashlib.md5).digest()
        self.answer = asyncio.get_running_loop().create_future()
        transport.sendto(packet[:-16] + signature)
        data = await asyncio.wait_for(self.answer, 10)
        return data[0] == 2


def attribute(kind: int, value: bytes) -> bytes:
    return bytes([kind, 2 + len(value)]) + value


def hide(password: str, authenticator: bytes) -> bytes:
    raw = password.encode()
    padded = raw + bytes(-len(raw) % 16 if raw else 16)
    out, previous = b"", authenticator
    for start in range(0, len(padded), 16):
        pad = hashlib.md5(RADIUS_SECRET.encode() + previous).digest()  # noqa: S324 (RFC 2865)
        previous = bytes(a ^ b for a, b in zip(padded[start : start + 16], pad, strict=True))
        out += previous
    return out


# -- load --------------------------------------------------------------------------------


class Traffic:
    """Half correct codes (a time step of the account's app not used yet), half wrong."""

    def __init__(self, accounts: list[tuple[str, str]], seed: int) -> None:
        self.accounts = accounts
        self.rng = random.Random(seed)
        self.used: set[tuple[str, int]] = set()

    def next(self) -> tuple[str, str]:
        account, secret = self.rng.choice(self.accounts)
        step = totp.time_step(datetime.now(UTC))
        if self.rng.random() < 0.5 and (account, step) not in self.used:
            self.used.add((account, step))
            return account, totp.code_at_step(secret, step)
        return account, f"{self.rng.randrange(1_000_000):06d}"


async def drive(make_worker: Any, concurrency: int, seconds: float) -> tuple[list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        call = await make_worker()
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await call.send()
                latencies.append(time.perf_counter() - started)
        finally:
            await call.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


class VerifyCall:
    def __init__(self, http: aiohttp.ClientSession, url: str, traffic: Traffic) -> None:
        self.http, self.url, self.traffic = http, url, traffic
        self.results: Counter[str] = Counter()

    async def send(self) -> None:
        account, code = self.traffic.next()
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        body = {"account": account, "code": code}
        async with self.http.post(self.url, json=body, headers=headers) as response:
            self.results[(await response.json())["result"]] += 1

    async def close(self) -> None:
        pass


class RadiusCall:
    def __init__(self, transport: Any, client: RadiusClient, traffic: Traffic) -> None:
        self.transport, self.client, self.traffic = transport, client, traffic

    async def send(self) -> None:
        account, code = self.traffic.next()
        await self.client.ask(self.transport, account, code)

    async def close(self) -> None:
        self.transport.close()


def figures(latencies: list[float], elapsed: float) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms)."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return len(latencies) / elapsed, statistics.median(ordered) * 1000, p99 * 1000


def line(label: str, values: tuple[float, float, float]) -> str:
    rate, p50, p99 = values
    return f"{label:<34} {rate:8,.0f}/s   p50 {p50:6.2f} ms   p99 {p99:7.2f} ms"


async def compare(
    accounts: list[tuple[str, str]], api_port: int, radius_port: int, seconds: float
) -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        url = f"http://127.0.0.1:{api_port}/v1/verify"
        for concurrency in LEVELS:
            traffic = Traffic(accounts, concurrency)

            async def verify_worker(traffic: Traffic = traffic) -> VerifyCall:
                return VerifyCall(http, url, traffic)

            async def radius_worker(traffic: Traffic = traffic) -> RadiusCall:
                transport, client = await loop.create_datagram_endpoint(
                    RadiusClient, remote_addr=("127.0.0.1", radius_port)
                )
                return RadiusCall(transport, client, traffic)

            # Direct, RADIUS, RADIUS, direct (half the time each): a machine that
            # grows busier or quieter during the run weighs on both alike.
            runs: dict[str, tuple[list[float], float]] = {"direct": ([], 0.0), "hop": ([], 0.0)}
            for name in ("direct", "hop", "hop", "direct"):
                worker = verify_worker if name == "direct" else radius_worker
                latencies, elapsed = await drive(worker, concurrency, seconds / 2)
                runs[name] = (runs[name][0] + latencies, runs[name][1] + elapsed)
            direct, hop = figures(*runs["direct"]), figures(*runs["hop"])
            print(line(f"POST /v1/verify          c={concurrency:<3}", direct))
            print(line(f"RADIUS via FreeRADIUS    c={concurrency:<3}", hop))
            print(
                f"{'':34} RADIUS/direct: throughput x{hop[0] / direct[0]:.2f}, "
                f"p50 x{hop[1] / direct[1]:.2f}, p99 x{hop[2] / direct[2]:.2f}"
            )


# -- PAM ---------------------------------------------------------------------------------


def first_existing(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if Path(p).exists()), None)


async def pam_logins(workdir: Path, api_port: int, runs: int) -> None:
    pam_python = first_existing(PAM_PYTHON_PATHS)
    pam_permit = first_existing(PAM_PERMIT_PATHS)
    if pam_python is None or pam_permit is None or first_existing((PAM_WRAPPER,)) is None:
        print("PAM: skipped (libpam-python, pamtester or libpam-wrapper missing)")
        return
    services = workdir / "pam.d"
    services.mkdir()
    token = workdir / "token"
    token.write_text(API_TOKEN)
    token.chmod(0o600)
    module = ROOT / "deploy" / "pam" / "twofa_desk.py"
    (services / "twofa").write_text(
        f"auth required {pam_python} {module} url=http://127.0.0.1:{api_port} "
        f"token_file={token} timeout=5\n"
    )
    (services / "permit").write_text(f"auth required {pam_permit}\n")
    env = {
        **os.environ,
        "LD_PRELOAD": PAM_WRAPPER,
        "PAM_WRAPPER": "1",
        "PAM_WRAPPER_SERVICE_DIR": str(services),
    }
    for service, label in (("permit", "pam_permit.so alone"), ("twofa", "twofa_desk.py")):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                "pamtester",
                service,
                "user0@example.com",
                "authenticate",
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await proc.communicate(b"000000\n")  # a wrong code: the full round trip
            times.append(time.perf_counter() - started)
        print(
            f"PAM, pamtester + {label:<20} {runs} logins: "
            f"median {statistics.median(times) * 1000:6.1f} ms, "
            f"max {max(times) * 1000:6.1f} ms"
        )


# -- main --------------------------------------------------------------------------------


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def encode_key(key: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(key).decode()


async def run(args: argparse.Namespace) -> None:
    missing = [p for p in ("freeradius", "pamtester") if shutil.which(p) is None]
    if missing or not (STOCK_RADDB / "mods-available" / "rest").exists():
        sys.exit(f"needs FreeRADIUS with its rest module and pamtester (missing: {missing})")
    key = decode_key(generate_key())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "data").mkdir(mode=0o700)
        accounts = await seed(workdir / "data" / "twofa.sqlite3", key, args.accounts)
        runner, bot_api = await stand_in_bot_api()
        api_port = free_port(socket.SOCK_STREAM)
        bot = await start_bot(workdir, key, bot_api, api_port)
        radiusd = None
        try:
            raddb = build_raddb(workdir / "raddb")
            radiusd, radius_port = await start_freeradius(raddb, api_port, workdir / "radiusd.log")
            print(f"{args.accounts} enrolled accounts, {args.seconds:.0f} s per run")
            await compare(accounts, api_port, radius_port, args.seconds)
            await pam_logins(workdir, api_port, args.pam_runs)
        finally:
            for proc in (radiusd, bot):
                if proc is not None and proc.returncode is None:
                    proc.terminate()
                    await proc.wait()
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per run")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--pam-runs", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
