"""`FakeBotApiRequest`: a PTB request backend that talks to a `BotApiState` in process.

Use it as ``Bot(token, request=FakeBotApiRequest(state))`` or in
``ApplicationBuilder().request(...).get_updates_request(...)``. Parameters are taken from
``RequestData.json_parameters`` and files from ``RequestData.multipart_data``, exactly what
PTB's HTTPXRequest puts on the wire, and answers are encoded to bytes, so the bot goes through
the same parsing and error handling (BadRequest, RetryAfter, NetworkError...) as over HTTP.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from demo.botapi.params import FileTuple
from demo.botapi.protocol import ApiError, dump_json, render_response
from demo.botapi.state import BotApiState

_PATH = re.compile(r"^/(file/)?bot([^/]+)/(.+)$")


class FakeBotApiRequest(BaseRequest):
    """Routes PTB's requests into `state`: no sockets, no threads."""

    def __init__(self, state: BotApiState, read_timeout: float | None = 5.0) -> None:
        self.state = state
        self._read_timeout = read_timeout
        self._initialized = False

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self._initialized = True

    async def shutdown(self) -> None:
        self._initialized = False

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if not self._initialized:
            # Same contract as HTTPXRequest: use the Bot/Application as an async context
            # manager (or call initialize()) before making requests.
            raise RuntimeError("This FakeBotApiRequest is not initialized!")
        match = _PATH.match(urlsplit(url).path)
        if match is None:
            return 404, dump_json(ApiError(404).body())
        is_file, token, rest = match.groups()
        if unquote(token) != self.state.token:
            return 401, dump_json(ApiError(401).body())
        if is_file:
            data = self.state.file_bytes(unquote(rest))
            if data is None:
                return 404, dump_json(ApiError(404).body())
            return 200, data

        params = request_data.json_parameters if request_data else {}
        files = _read_parts(request_data.multipart_data) if request_data else {}
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        try:
            async with asyncio.timeout(read_timeout):
                status, body = await self.state.call(rest, params, files)
        except TimeoutError as exc:
            raise TimedOut from exc
        return status, render_response(status, body)[0]


def _read_parts(parts: dict[str, Any]) -> dict[str, FileTuple]:
    """multipart_data values may hold file handles (InputFile(read_file_handle=False))."""
    files = {}
    for name, (filename, content, mimetype) in parts.items():
        data = content if isinstance(content, bytes) else content.read()
        files[name] = (filename, data, mimetype)
    return files
