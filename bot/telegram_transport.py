"""How the bot talks HTTP to the Bot API: python-telegram-bot's request interface over aiohttp.

python-telegram-bot ships ``HTTPXRequest``; measured here against the local Bot API
test server, it spends about 1.3 ms of CPU per call, aiohttp about 0.1 ms. A bot that
makes eight calls per enrolment is CPU-bound on that alone, so the composition root
plugs this class in through ``BaseRequest``, PTB's documented extension point. PTB
keeps parsing responses, raising its errors (``RetryAfter``, ``BadRequest``...) and
retrying; this class only moves bytes and maps transport failures to PTB's errors.

Given the process's ``Leadership`` (core/leadership.py), it sends nothing once this bot
may no longer send (its lease lapsed, another bot took over): every call is refused
with ``NotLeader`` before a byte leaves, replies to users as well as the outboxes.
getUpdates is answered with no updates instead, without asking Telegram: a deposed bot
must not confirm the updates it fetched (the new active bot gets them), and PTB's stop
makes one last getUpdates that would log a trace if refused.
"""

from __future__ import annotations

import asyncio

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from core.leadership import Leadership, NotLeader

DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0
NOT_LEADER_POLL_S = 0.5  # a deposed bot's getUpdates: no updates, after this long
_NO_UPDATES = b'{"ok": true, "result": []}'


def _seconds(value: object, default: float | None) -> float | None:
    """PTB passes ``DEFAULT_NONE`` for "use the default"; None means "no limit"."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    return value  # type: ignore[return-value]


class AiohttpRequest(BaseRequest):
    __slots__ = (
        "_connect_timeout",
        "_leadership",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
    )

    def __init__(
        self,
        connection_pool_size: int = 1,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        leadership: Leadership | None = None,
    ) -> None:
        self._leadership = leadership
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        # Created here, inside the running event loop that will use it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        if self._leadership is not None and not self._leadership.is_current():
            if url.endswith("/getUpdates"):
                await asyncio.sleep(NOT_LEADER_POLL_S)
                return 200, _NO_UPDATES
            raise NotLeader(f"not sent ({url.rsplit('/', 1)[-1]}): not the active bot")
        has_files = bool(request_data and request_data.contains_files)
        read = _seconds(read_timeout, self._read_timeout)
        if has_files:
            # An upload's body goes out before the answer can be read: allow for both.
            write = _seconds(write_timeout, MEDIA_WRITE_TIMEOUT)
            read = None if read is None or write is None else read + write
        pool = _seconds(pool_timeout, self._pool_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=self._body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut(f"aiohttp: {exc.__class__.__name__}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc

    @staticmethod
    def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
        """Form fields as PTB encodes them; files as a multipart upload."""
        if request_data is None:
            return None
        fields = request_data.json_parameters
        if not request_data.contains_files:
            return fields or None
        form = aiohttp.FormData(quote_fields=False)
        for name, value in fields.items():
            form.add_field(name, value)
        for name, (filename, content, mimetype) in (request_data.multipart_data or {}).items():
            form.add_field(name, content, filename=filename, content_type=mimetype)
        return form
