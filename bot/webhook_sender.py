"""Delivers the webhook outbox (core/webhooks.py) over HTTP: the active bot's job.

Every ``INTERVAL_S`` the job looks for endpoints with a delivery due and starts, for each
that has none running, a task that sends that endpoint's deliveries one after the other,
oldest first, until none is due (a failure ends it: the retry waits behind its backoff,
and everything after it waits too, so order holds). Each endpoint has its own task, so a
receiver that answers slowly holds up only itself; nothing here is on the path of a login.

An attempt is a POST with aiohttp: ``TIMEOUT`` for the whole exchange, redirects not
followed (a 3xx is a failure), the body exactly as written with the event. A host that
resolves to a loopback, link-local or private address is refused at connection time
(the resolver below), unless the endpoint was added with ``--allow-private``: the check
is made on the addresses actually connected to, so a name that changes its answer after
``webhooks add`` does not reach inside either.

Delivery is at least once: a delivery is marked right after the receiver's 2xx, so a
crash in that instant sends it again, with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from core.clock import Clock
from core.leadership import NotLeader
from core.webhooks import (
    TIMEOUT,
    Answer,
    Batch,
    Outcome,
    WebhookService,
    address_refused,
    ip_literal,
)
from storage.records import WebhookDelivery

logger = logging.getLogger(__name__)

INTERVAL_S = 1.0
USER_AGENT = "2FA-Desk-Webhooks/1"


class PrivateAddressError(OSError):
    """The endpoint's host resolves to an address a webhook may not reach."""


class PublicOnlyResolver(AbstractResolver):
    """The default resolver, refusing names that resolve to a non-public address."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        refused = sorted({r["host"] for r in results if address_refused(r["host"])})
        if refused:
            raise PrivateAddressError(
                f"{host} resolves to a private address ({', '.join(refused)}): refused "
                "(add the webhook with --allow-private to reach it)"
            )
        return results

    async def close(self) -> None:
        await self._inner.close()


class WebhookSender:
    def __init__(
        self,
        service: WebhookService,
        clock: Clock,
        *,
        active: Callable[[], bool] = lambda: True,
        timeout: timedelta = TIMEOUT,
    ) -> None:
        self._timeout = timeout
        self._service = service
        self._clock = clock
        self._active = active  # False once this process is no longer the active bot
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    async def tick(self) -> None:
        """Start a task for every endpoint with a delivery due and none running."""
        if not self._active():
            return
        for endpoint_id in await self._service.endpoints_due():
            running = self._tasks.get(endpoint_id)
            if running is None or running.done():
                self._tasks[endpoint_id] = asyncio.create_task(
                    self._drain(endpoint_id), name=f"webhook-endpoint-{endpoint_id}"
                )

    async def drain_all(self) -> None:
        """Wait for the running tasks (tests and benchmarks)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()

    async def _drain(self, endpoint_id: int) -> None:
        try:
            while self._active():
                batch = await self._service.next_batch(endpoint_id)
                if batch is None or not await self._send(batch):
                    return
        except asyncio.CancelledError:
            raise
        except NotLeader:
            return  # deposed: the next active bot delivers what is left
        except Exception:
            logger.exception(
                "webhook endpoint %d: delivery stopped, tried again shortly", endpoint_id
            )

    async def _send(self, batch: Batch) -> bool:
        """The batch in order; False at the first delivery that did not go (it waits)."""
        for delivery in batch.deliveries:
            if not self._active():
                return False
            answer = await self._attempt(batch, delivery)
            outcome = await self._service.record(batch.endpoint, delivery, answer)
            if outcome is Outcome.DELIVERED:
                continue
            if outcome is Outcome.SET_ASIDE:
                logger.error(
                    "webhook %s: a %s event set aside after a day of failures (%s)",
                    batch.endpoint.name,
                    delivery.event_type,
                    answer.describe(),
                )
                continue
            logger.warning(
                "webhook %s: delivery failed, will retry: %s",
                batch.endpoint.name,
                answer.describe(),
            )
            return False
        return True

    async def _attempt(self, batch: Batch, delivery: WebhookDelivery) -> Answer:
        endpoint = batch.endpoint
        literal = ip_literal(urlsplit(endpoint.url).hostname or "")
        if literal is not None and not endpoint.allow_private and address_refused(literal):
            return Answer(None, f"{literal} is a private address: refused")
        headers = batch.signer.headers(delivery.message_id, delivery.body, self._clock.now())
        session = self._session(endpoint.allow_private)
        try:
            async with session.post(
                endpoint.url,
                data=delivery.body.encode("utf-8"),
                headers=headers,
                allow_redirects=False,
            ) as response:
                return Answer(response.status)
        except TimeoutError:
            return Answer(None, f"no answer within {self._timeout.total_seconds():g} s")
        except aiohttp.ClientConnectorError as exc:
            cause: Any = exc.os_error
            if isinstance(cause, PrivateAddressError):
                return Answer(None, str(cause))
            return Answer(None, f"cannot connect: {cause.strerror or cause}")
        except aiohttp.ClientError as exc:
            return Answer(None, f"connection failed: {type(exc).__name__}")
        except PrivateAddressError as exc:
            return Answer(None, str(exc))

    def _session(self, allow_private: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(allow_private)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                resolver=None if allow_private else PublicOnlyResolver(),
                limit=0,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout.total_seconds()),
                headers={"user-agent": USER_AGENT},
                trust_env=False,
            )
            self._sessions[allow_private] = session
        return session
