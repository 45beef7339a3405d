"""End to end on PostgreSQL: API processes beside the bot, and a standby that takes over.

Real ``python -m bot`` processes (the bot, ``python -m bot api``, ``--workers 2``)
against the local Bot API test server over HTTP, on a database of the throwaway
PostgreSQL server of the test session (bench/_postgres.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psycopg
import pytest

from bench._postgres import PostgresServer
from core.leadership import LeaseTiming
from demo.botapi import BotApiServer
from tests.e2e import (
    REPLY_TIMEOUT,
    BotProcess,
    E2EUser,
    contains,
    enrol,
    eventually,
    eventually_async,
    has_photo,
)
from tests.helpers import app_code
from tests.pg_deployment import API_TOKEN, AUTH, OPS, TAKEOVER_S, Deployment, verify, wrong_code
from tests.relay import BotApiCalls, Relay, terminate_leader_session


@pytest.fixture
def server(server: BotApiServer) -> BotApiServer:
    """The shared test server (tests/conftest.py), with the ops group in it."""
    server.state.group(OPS, "Ops")
    return server


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.database() as url:
        yield url


def audit_count(url: str, action: str, account: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = %s AND account_id = %s",
            (action, account),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_api_processes_beside_the_bot_keep_every_rule(
    server: BotApiServer,
    tmp_path: Path,
    database_url: str,
    unused_tcp_port_factory: Any,
) -> None:
    ports = [unused_tcp_port_factory() for _ in range(3)]
    deployment = Deployment(server, tmp_path, database_url)
    bot = deployment.process("bot", ports[0])
    single = deployment.process("api", ports[1], "api")
    workers = deployment.process("workers", ports[2], "api", "--workers", "2")
    try:
        await asyncio.gather(
            bot.start(),
            single.spawn(),
            workers.spawn(),
        )
        await single.health({"status": "ok", "role": "api"})
        await workers.health({"status": "ok", "role": "api"})
        await bot.health({"status": "ok", "role": "bot", "state": "active"})

        async with aiohttp.ClientSession() as http:
            # A link minted by an API process names the bot (it asked getMe).
            async with http.post(
                f"http://127.0.0.1:{ports[1]}/v1/enrollment-links",
                json={"account": "anna@example.com"},
                headers=AUTH,
            ) as response:
                url = (await response.json())["url"]
            assert url.startswith("https://t.me/twofa_desk_bot?start=")
            token = url.split("?start=")[1]
            anna = await enrol(E2EUser(server, 8101, "Anna"), "Phone", f"/start {token}")
            bo = await enrol(E2EUser(server, 8102, "Bo"), "Phone")

            # 2 x 16 requests at once with the same code, half through each API process.
            code = app_code(anna, time.time() + 30)
            same = await asyncio.gather(
                *(verify(http, ports[1 + i % 2], "anna@example.com", code) for i in range(32))
            )
            assert same.count("accepted") == 1, same

            # 2 x 16 wrong codes at once: four refusals, then one lock, counted once.
            wrong = wrong_code(bo)
            results = await asyncio.gather(
                *(verify(http, ports[1 + i % 2], "tg:8102", wrong) for i in range(32))
            )
            assert (results.count("rejected"), results.count("locked")) == (4, 28), results
            async with http.get(
                f"http://127.0.0.1:{ports[2]}/v1/accounts/tg:8102", headers=AUTH
            ) as r:
                lock = (await r.json())["lock"]
            assert lock["locked"] and lock["consecutive_failures"] == 5
        assert audit_count(database_url, "account_locked", "tg:8102") == 1
        locked = await server.state.wait_for_message(
            OPS, contains("tg:8102"), timeout=REPLY_TIMEOUT, after_revision=0
        )
        assert "Account locked" in locked.content

        # The bot's leader session ends (a server restart, an operator): it stops (3),
        # for systemd to start it again as a standby; the API processes go on.
        terminate_leader_session(database_url)
        assert bot.proc is not None
        assert await asyncio.wait_for(bot.proc.wait(), REPLY_TIMEOUT) == 3
        assert "lost the leader lock" in bot.log()
        await single.health({"status": "ok", "role": "api"})
    finally:
        await deployment.stop()
    assert sum("tg:8102" in m.content for m in server.state.messages(OPS)) == 1
    for process in deployment.processes:
        assert API_TOKEN not in process.log() and "Traceback" not in process.log()


async def test_the_standby_takes_over_mid_enrolment_and_sends_the_waiting_alert_once(
    server: BotApiServer,
    tmp_path: Path,
    database_url: str,
    unused_tcp_port_factory: Any,
) -> None:
    ports = [unused_tcp_port_factory() for _ in range(2)]
    deployment = Deployment(server, tmp_path, database_url)
    active = deployment.process("active", ports[0])
    standby = deployment.process("standby", ports[1])
    try:
        await active.start()
        await standby.spawn()
        await standby.health({"role": "bot", "state": "standby"})
        await active.health({"role": "bot", "state": "active"})
        await server.state.wait_for_message(
            OPS, contains("Bot started"), timeout=REPLY_TIMEOUT, after_revision=0
        )

        async with aiohttp.ClientSession() as http:
            # An account to lock (for an alert), and a second user half-way through set-up.
            owner = await enrol(E2EUser(server, 8201, "Olga"), "Phone")
            user = E2EUser(server, 8202, "Uwe")
            photo = await user.send("/enroll", has_photo)
            secret = (await _secret(user, photo))["secret"]
            await user.send(app_code(secret), contains("Code confirmed"))

            # The ops chat is out of reach; the standby's API locks the account.
            server.state.remove_bot_from(OPS)
            wrong = wrong_code(owner)
            results = [await verify(http, ports[1], "tg:8201", wrong) for _ in range(5)]
            assert results[-1] == "locked"
            # The active bot tried to send the alert and failed; then it dies.
            await eventually(lambda: _alert_tried(server, "tg:8201"), timeout=REPLY_TIMEOUT)
            await eventually(lambda: not server.state.pending_updates())
            await active.kill()
            server.state.add_bot_to(OPS)

            await standby.health({"state": "active"}, timeout=TAKEOVER_S)
            summary = await user.send("Uwe's phone", contains("Ready to activate"))
            await user.press(summary, "Complete activation", contains("is active"))
            alert = await server.state.wait_for_message(
                OPS, contains("tg:8201"), timeout=30, after_revision=0
            )
            assert "Account locked" in alert.content
            async with http.get(
                f"http://127.0.0.1:{ports[1]}/v1/accounts/tg:8202", headers=AUTH
            ) as r:
                assert (await r.json())["enrolled"] is True
    finally:
        await deployment.stop()
    # The stop alert went out after everything waiting: the lock alert went out once.
    texts = [m.content for m in server.state.messages(OPS)]
    assert any("Bot stopped" in t for t in texts)
    assert sum("tg:8201" in t for t in texts) == 1
    assert sum("Bot started" in t for t in texts) == 2  # the first bot's, then the standby's


def through(relay: Relay, url: str) -> str:
    """``url`` (a database's, or the Bot API's) with its host and port those of the relay."""
    parts = urlsplit(url)
    credentials = f"{parts.username}:{parts.password}@" if parts.username else ""
    return parts._replace(netloc=f"{credentials}127.0.0.1:{relay.port}").geturl()


async def test_a_silent_or_stopped_active_bot_is_replaced_in_seconds_and_never_sends_beside_it(
    server: BotApiServer,
    tmp_path: Path,
    database_url: str,
    unused_tcp_port_factory: Any,
) -> None:
    """Two real bots, each reaching the Bot API through a relay of its own (which tells
    whose calls are whose), the first also reaching PostgreSQL through one. Its database
    path falls silent: it stops within its lease and the standby takes over within the
    bound; the path comes back before the first has exited, and it still sends nothing.
    Then the new active bot is
    stopped (SIGSTOP: the whole process, as a hung host): the first, back as a standby,
    takes over, and the stopped one, continued, sends nothing and exits 3."""
    bound = LeaseTiming().takeover_bound + 2.0  # + the new bot's start (getMe, commands)
    database = await Relay(urlsplit(database_url).port or 5432).start()
    calls = {"a": BotApiCalls(), "b": BotApiCalls()}
    telegram = {
        name: await Relay(urlsplit(server.origin).port or 80, sniff=sniff).start()
        for name, sniff in calls.items()
    }
    ports = [unused_tcp_port_factory() for _ in range(2)]
    deployment = Deployment(server, tmp_path, database_url)
    bots = {
        name: deployment.process(name, port) for name, port in zip(("a", "b"), ports, strict=True)
    }
    for name, bot in bots.items():
        bot.env["TELEGRAM_BASE_URL"] = through(telegram[name], server.base_url)
    bots["a"].env["DATABASE_URL"] = through(database, database_url)
    a, b = bots["a"], bots["b"]
    ida, jon = E2EUser(server, 8401, "Ida"), E2EUser(server, 8402, "Jon")
    try:
        await a.start()
        await b.spawn()
        await b.health({"role": "bot", "state": "standby"})

        # 1. A's path to the database falls silent.
        silent = time.monotonic()
        database.silence()
        await b.health({"state": "active"}, timeout=bound)
        active = time.monotonic() - silent
        # The path comes back before A is gone: A's stuck work runs on, and sends nothing.
        database.resume()
        await ida.send("/status")
        assert a.proc is not None
        assert await asyncio.wait_for(a.proc.wait(), bound) == 3
        stopped = time.monotonic() - silent
        print(f"\nsilent path: B active after {active:.1f} s, A exited (3) after {stopped:.1f} s")
        # A counted the lock lost: its lease lapsed, or on a busy machine the server ended
        # the silent session first and A heard so once the path came back.
        assert any(
            why in a.log()
            for why in ("did not answer within the lease", "database session is gone")
        ), a.log()[-2000:]
        assert active <= bound
        _one_sender_at_a_time(calls["a"], calls["b"])
        assert len(server.state.messages(ida.user_id)) == 1  # answered once, by B

        # 2. A comes back as a standby; B stops dead.
        await a.spawn()
        await a.health({"role": "bot", "state": "standby"})
        assert b.proc is not None
        halted = time.monotonic()
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            server.state.send_text(jon.user_id, "/status")
            await a.health({"state": "active"}, timeout=bound)
            active = time.monotonic() - halted
            await server.state.wait_for_message(jon.user_id, timeout=REPLY_TIMEOUT)
            answered = time.monotonic() - halted
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        assert await asyncio.wait_for(b.proc.wait(), 10) == 3
        print(f"SIGSTOP: A active after {active:.1f} s, Jon answered after {answered:.1f} s")
        assert active <= bound
        assert calls["b"].since(halted) == []  # continued, B sent nothing more
        assert len(server.state.messages(jon.user_id)) == 1
    finally:
        await deployment.stop()
        await database.close()
        for relay in telegram.values():
            await relay.close()
    texts = [m.content for m in server.state.messages(OPS)]
    assert sum("Bot started" in t for t in texts) == 3  # A, B, A again
    assert sum("Bot stopped" in t for t in texts) == 1  # only the last one stopped cleanly
    for bot in bots.values():
        assert "Traceback" not in bot.log()


def _one_sender_at_a_time(old: BotApiCalls, new: BotApiCalls) -> None:
    """Every Bot API call of the old active bot came before the new one's first (getMe
    aside: a standby asks it for the API's enrolment links)."""
    last_old, first_new = old.last(but=("getMe",)), new.first(but=("getMe",))
    assert last_old is not None and first_new is not None
    assert last_old < first_new, (old.since(first_new), new.calls[:5])


async def _secret(user: E2EUser, photo: Any) -> dict[str, str]:
    from tests.helpers import decode_qr, parse_key_uri

    return parse_key_uri(decode_qr(await user.download_photo(photo)))


def _alert_tried(server: BotApiServer, account: str) -> bool:
    return any(
        name == "sendMessage" and params.get("chat_id") == str(OPS) and account in params["text"]
        for name, params in server.state.calls
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


async def test_api_workers_replace_a_dead_one_and_answer_503_without_a_database(
    server: BotApiServer, tmp_path: Path, postgres_server: PostgresServer, unused_tcp_port: int
) -> None:
    url = postgres_server.new_database()
    workers = Deployment(server, tmp_path, url).process(
        "workers", unused_tcp_port, "api", "--workers", "2"
    )
    await workers.spawn()
    try:
        await workers.health({"status": "ok", "role": "api"})
        assert workers.proc is not None
        parent = workers.proc.pid
        await eventually(lambda: len(children_of(parent)) == 2)
        first = children_of(parent)
        os.kill(min(first), signal.SIGKILL)
        await eventually(
            lambda: len(children_of(parent)) == 2 and min(first) not in children_of(parent)
        )
        await workers.health({"status": "ok", "role": "api"})

        postgres_server.drop_database(url)  # the database is gone: not healthy
        async with aiohttp.ClientSession() as http:

            async def unhealthy() -> bool:
                async with http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz") as r:
                    body = await r.json()
                    return r.status == 503 and body == {
                        **body,
                        "role": "api",
                        "error": "database_unavailable",
                    }

            await eventually_async(unhealthy, timeout=REPLY_TIMEOUT)
        survivors = children_of(parent)
    finally:
        status = await workers.terminate()
    assert status == 0
    assert not [pid for pid in survivors if alive(pid)]  # the workers ended with the parent
    assert "starting another" in workers.log()


def api_checks(metrics: str) -> float:
    """The code checks of the API that a /metrics answer counts, all results together."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("twofa_verifications_total{") and 'channel="api"' in line
    )


async def test_metrics_of_api_workers_count_the_requests_of_every_worker(
    server: BotApiServer, tmp_path: Path, database_url: str, unused_tcp_port: int
) -> None:
    workers = Deployment(server, tmp_path, database_url).process(
        "workers", unused_tcp_port, "api", "--workers", "2"
    )
    await workers.spawn()
    try:
        await workers.until_ready(
            eventually(lambda: workers.log().count("2FA Desk API started") == 2, timeout=30)
        )
        checks = 24
        for _ in range(checks):  # a connection each: the kernel spreads them over both
            async with aiohttp.ClientSession() as http:
                assert await verify(http, unused_tcp_port, "nobody", "123456") == "not_enrolled"
        seen = []
        for _ in range(8):  # either worker answers, and counts the other's checks too
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{unused_tcp_port}/metrics"
                async with http.get(url, headers=AUTH) as response:
                    assert response.status == 200
                    seen.append(api_checks(await response.text()))
        assert seen == [checks] * len(seen)
    finally:
        assert await workers.terminate() == 0


async def run_copy(workdir: Path, env: dict[str, str], target: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "copy-database",
        "--to",
        target,
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_copy_database_moves_an_sqlite_deployment_up(
    server: BotApiServer,
    tmp_path: Path,
    postgres_server: PostgresServer,
    unused_tcp_port_factory: Any,
) -> None:
    ports = [unused_tcp_port_factory() for _ in range(2)]
    on_sqlite = BotProcess(server, tmp_path, API_TOKEN=API_TOKEN, API_PORT=str(ports[0]))
    await on_sqlite.start()
    secret = await enrol(E2EUser(server, 8301, "Cleo"), "Phone")
    target = postgres_server.create_database()  # empty
    try:
        status, _, err = await run_copy(tmp_path, on_sqlite.env, target)
        assert status == 2 and err.startswith("error: a python -m bot runs on sqlite:///"), err
        assert len(err.splitlines()) == 1 and "stop it first" in err
    finally:
        assert await on_sqlite.terminate() == 0

    status, out, err = await run_copy(tmp_path, on_sqlite.env, target)
    assert status == 0, err
    assert "count check" in out and "every count equal" in out
    [devices] = [line.split() for line in out.splitlines() if line.strip().startswith("devices ")]
    assert devices[1:] == ["1", "=", "1"]
    assert postgres_server.password not in out + err
    # A second copy into the same database is refused, and writes nothing.
    status, _, err = await run_copy(tmp_path, on_sqlite.env, target)
    assert status == 1 and err.strip().splitlines()[-1].startswith("error: ")
    assert "already holds data" in err

    # On PostgreSQL, with the same SECRETS_KEY: the device's codes are accepted, once.
    api = BotProcess(
        server,
        tmp_path,
        command=("api",),
        name="api",
        API_TOKEN=API_TOKEN,
        API_PORT=str(ports[1]),
        DATABASE_URL=target,
        SECRETS_KEY=on_sqlite.env["SECRETS_KEY"],
    )
    await api.spawn()
    try:
        await api.health({"status": "ok", "role": "api"})
        code = app_code(secret, time.time() + 30)
        async with aiohttp.ClientSession() as http:
            assert await verify(http, ports[1], "tg:8301", code) == "accepted"
            assert await verify(http, ports[1], "tg:8301", code) == "rejected"
    finally:
        assert await api.terminate() == 0
