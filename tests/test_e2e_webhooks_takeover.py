"""End to end on PostgreSQL: signed webhooks through a standby take-over.

Two real ``python -m bot`` on one throwaway PostgreSQL database (bench/_postgres.py), a receiver
on 127.0.0.1 that verifies every POST with standardwebhooks (tests/webhook_receiver.py)
and tells, from the connection, which bot process sent it. The receiver is down (503)
while events are written, the active bot is SIGKILLed, the standby takes over, then the
receiver comes back: every event arrives, once, in order, sent by the active bot only.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web

from bench._postgres import PostgresServer
from demo.botapi import BotApiServer
from tests.e2e import BotProcess, E2EUser, enrol, eventually
from tests.pg_deployment import Deployment, verify, wrong_code
from tests.webhook_receiver import Receiver, RunningReceiver, add_webhook

TAKEOVER_S = 15.0  # the lock freed at the kill, the standby's retry and grace, its start
DELIVERY_TIMEOUT = 30.0


def sender_of(request: web.Request, bots: dict[str, BotProcess]) -> str:
    """The name of the bot process that holds the client end of ``request``'s connection
    ("?" for none of them): its socket, found in /proc/net/tcp, among the process's open
    files."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    own = request.transport.get_extra_info("sockname") if request.transport else None
    if not peer or not own:
        return "?"
    inode = _socket_inode(local_port=peer[1], remote_port=own[1])
    for name, bot in bots.items():
        if inode is None or bot.proc is None or bot.proc.returncode is not None:
            continue
        fds = Path(f"/proc/{bot.proc.pid}/fd")
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fds.iterdir()):
                return name
        except OSError:
            continue  # gone meanwhile
    return "?"


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == local_port and int(remote[1], 16) == remote_port:
            return fields[9]
    return None


def deliveries(url: str) -> dict[str, tuple[int, bool]]:
    """webhook-id -> (attempts recorded, delivered) of every delivery in the database."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ev.message_id, d.attempts, d.delivered_at IS NOT NULL"
            " FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id"
        ).fetchall()
    return {str(r[0]): (int(r[1]), bool(r[2])) for r in rows}


async def test_a_standby_take_over_during_a_receiver_outage_loses_nothing_and_sends_once(
    server: BotApiServer,
    tmp_path: Path,
    postgres_server: PostgresServer,
    unused_tcp_port_factory: Any,
) -> None:
    ports = [unused_tcp_port_factory() for _ in range(3)]
    got = Receiver(status=503)
    receiver = RunningReceiver(got, ports[2])
    with postgres_server.database() as url:
        deployment = Deployment(server, tmp_path, url)
        a = deployment.process("a", ports[0])
        b = deployment.process("b", ports[1])
        got.identify = lambda request: sender_of(request, {"a": a, "b": b})
        ann, bo = E2EUser(server, 6401, "Ann"), E2EUser(server, 6402, "Bo")

        async def standby() -> None:  # B starts once A holds the lock
            await eventually(lambda: "took the leader lock" in a.log(), timeout=30)
            await b.spawn()

        await receiver.start()
        try:
            got.secret, *_ = await asyncio.gather(
                add_webhook(a, receiver.url), a.start(), standby()
            )
            await b.health({"role": "bot", "state": "standby"})

            # Written while A is active: Ann's device (by A), her lock (by B's API).
            secret = await enrol(ann)
            async with aiohttp.ClientSession() as http:
                wrong = wrong_code(secret)
                results = [await verify(http, ports[1], "tg:6401", wrong) for _ in range(5)]
            assert results[-1] == "locked"
            # A tries the first event twice (503; the lock waits behind it), records the
            # second failure, and is killed before its next try is due.
            await eventually(lambda: len(got.log) >= 2, timeout=DELIVERY_TIMEOUT)
            await eventually(
                lambda: sum(n for n, _ in deliveries(url).values()) == len(got.log), timeout=5
            )
            await a.kill()
            killed = time.monotonic()
            before_kill = list(got.log)
            recorded_by_a = deliveries(url)

            await b.health({"state": "active"}, timeout=TAKEOVER_S)
            active = time.monotonic() - killed
            # Written by B, the active bot now, while the receiver is still down.
            await enrol(bo)
            await eventually(lambda: any(t.sender == "b" for t in got.log), DELIVERY_TIMEOUT)
            got.status = 204  # the receiver is back
            recovered = time.monotonic()
            await eventually(lambda: len(got.verified) >= 3, timeout=DELIVERY_TIMEOUT)
            arrived = time.monotonic() - recovered
            await eventually(lambda: all(d for _, d in deliveries(url).values()), timeout=5)
            recorded = deliveries(url)
            print(f"\nB active {active:.1f} s after the kill; all in {arrived:.1f} s after")
        finally:
            await deployment.stop()
            await receiver.stop()

    # Every event arrived, verified, each webhook-id answered 2xx once.
    assert got.refused == 0
    ids = [r.message_id for r in got.verified]
    assert len(ids) == len(set(ids)) == len(recorded) == 3
    assert set(got.attempts) == set(ids)
    # Per endpoint in the order written; per account in seq order from 1.
    assert [(r.type, r.data["account"], r.data["seq"]) for r in got.verified] == [
        ("device.added", "tg:6401", 1),
        ("account.locked", "tg:6401", 2),
        ("device.added", "tg:6402", 1),
    ]
    assert got.verified[1].data["actor"] == {"type": "client", "id": "API_TOKEN"}
    # A tried the first event only; B tried it again under the same webhook-id.
    assert {t.message_id for t in before_kill} == {ids[0]}
    assert [t.sender for t in before_kill] == ["a"] * len(before_kill)
    assert all(t.status == 503 for t in before_kill)
    # Only the active bot sent: A until its kill, B after it; every 2xx went to B.
    after_kill = got.log[len(before_kill) :]
    assert after_kill and all(t.sender == "b" and t.at > killed for t in after_kill)
    assert (after_kill[0].message_id, after_kill[0].status) == (ids[0], 503)
    assert [t.message_id for t in after_kill if t.status == 204] == ids
    # Every attempt made was recorded by the one bot that made it: none made by both.
    assert recorded_by_a == {ids[0]: (len(before_kill), False), ids[1]: (0, False)}
    sent = Counter(t.message_id for t in got.log)
    assert {i: attempts for i, (attempts, _) in recorded.items()} == sent
    for bot in (a, b):
        assert "Traceback" not in bot.log()
