"""A TCP relay on 127.0.0.1 for the tests: a network path that can fall silent.

``Relay(port)`` listens on a free port of 127.0.0.1 and forwards every connection to
``127.0.0.1:port``. ``silence()`` stops forwarding in both directions: nothing more is
read from either side, so nothing more arrives on the other, not even the end of a
connection (a server that ends its session, a client that closes). Both ends' kernels
still acknowledge what was sent (it waits in the relay's socket buffers), so neither
TCP stack notices anything: a path that drops everything, as a partition or a host
that lost power looks, only more so (keepalive probes are answered too). Only a
deadline of one's own, or of the server's (``idle_session_timeout``), ends the wait.
``resume()`` forwards again, what waited first.

``sniff`` (optional) sees every chunk a client sends: the tests read the Bot API
methods a bot process calls from it (``requests``).

``terminate_leader_session(url)`` is the other fault of the leader tests: PostgreSQL ends
the session that holds the leader lock, as an administrator or a failover would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable

import psycopg

from storage.leader_lock import LOCK_KEYS

CHUNK = 65536
_REQUEST_LINE = re.compile(rb"(?:GET|POST) /bot[^/ ]*/(\w+) HTTP/1\.1")


class Relay:
    def __init__(self, target_port: int, *, sniff: Callable[[bytes], None] | None = None) -> None:
        self.target_port = target_port
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._sniff = sniff
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def silence(self) -> None:
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pump in self._pumps:
            pump.cancel()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        await self._open.wait()  # a connection made while silent waits too
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        self._writers += [client_w, server_w]
        for pump in (
            self._pump(client_r, server_w, self._sniff),
            self._pump(server_r, client_w, None),
        ):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sniff: Callable[[bytes], None] | None,
    ) -> None:
        try:
            while True:
                await self._open.wait()
                data = await reader.read(CHUNK)
                await self._open.wait()  # read just before the silence: held back too
                if not data:
                    break
                if sniff is not None:
                    sniff(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


class BotApiCalls:
    """The Bot API methods one process called, with when (``time.monotonic``), read from
    what it sent through its own ``Relay`` (HTTP/1.1, one request line per call)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self._tail = b""

    def __call__(self, data: bytes) -> None:
        now = time.monotonic()
        text = self._tail + data
        for match in _REQUEST_LINE.finditer(text):
            if match.end() > len(self._tail):  # not counted with the chunk before
                self.calls.append((now, match.group(1).decode()))
        self._tail = text[-200:]

    def since(self, moment: float, *, but: tuple[str, ...] = ()) -> list[str]:
        return [name for at, name in self.calls if at >= moment and name not in but]

    def last(self, *, but: tuple[str, ...] = ()) -> float | None:
        times = [at for at, name in self.calls if name not in but]
        return max(times) if times else None

    def first(self, *, but: tuple[str, ...] = ()) -> float | None:
        times = [at for at, name in self.calls if name not in but]
        return min(times) if times else None


def terminate_leader_session(url: str) -> None:
    """End the database session that holds the leader lock (on PostgreSQL at ``url``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND granted AND (classid, objid, objsubid) = (%s, %s, 2)",
            LOCK_KEYS,
        )
