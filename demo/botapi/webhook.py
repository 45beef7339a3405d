"""Webhook delivery: with a webhook set, the simulated Telegram POSTs each update to it.

As Telegram does: the update's JSON as the body, the ``X-Telegram-Bot-Api-Secret-Token``
header when setWebhook was given a ``secret_token``, one update at a time in order; a
2xx answer confirms the update, anything else (a refusal, a connection that fails) keeps
it for another try a little later, and getWebhookInfo shows the last error.

`post_update` sends one update with any header (or none) outside that queue: for tests
of what the bot does with a forged request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from demo.botapi.methods import ApiMethods

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0)  # seconds before the next try, then the last one again
POST_TIMEOUT_S = 10.0


async def post_update(
    http: aiohttp.ClientSession, url: str, update: dict[str, Any], secret_token: str | None
) -> int:
    """POST one update; the HTTP status (0 when the connection failed)."""
    headers = {"Content-Type": "application/json"}
    if secret_token is not None:
        headers[SECRET_HEADER] = secret_token
    try:
        async with http.post(
            url,
            data=json.dumps(update),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S),
        ) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


class WebhookSender:
    """Delivers the state's queued updates to its webhook while the server runs."""

    def __init__(self, state: ApiMethods) -> None:
        self.state = state
        self.delivered = 0
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._http = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(self._http), name="webhook-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def post(self, update: dict[str, Any], secret_token: str | None) -> int:
        """One update to the current webhook with this secret (None: no header)."""
        hook = self.state.webhook
        if hook is None or self._http is None:
            raise LookupError("no webhook is set")
        return await post_update(self._http, hook.url, update, secret_token)

    async def _run(self, http: aiohttp.ClientSession) -> None:
        failures = 0
        while True:
            hook, update = await self.state.next_webhook_update()
            status = await post_update(http, hook.url, update, hook.secret_token)
            if 200 <= status < 300:
                self.state.webhook_delivered(update)
                self.delivered += 1
                failures = 0
                continue
            message = (
                f"Wrong response from the webhook: {status}" if status else ("Connection refused")
            )
            self.state.webhook_failed(message)
            await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
            failures += 1
