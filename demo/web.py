"""The chat page, served beside the stand-in's Bot API and control API (one port).

    GET  /                        the page (demo/page/index.html; app.js and style.css beside)
    GET  /demo/setup              who is who: the bot, the support and ops chats, their members,
                                  which API calls the login panel offers
    GET  /demo/authenticator      ?user_id=..: the entries of that user's "app", with codes
    *    /demo/api/<path>         the bot's HTTP API (v1/..., healthz), with the API token
                                  added here, so that it never reaches the browser

The page reaches the simulated Telegram through the control API (``/_control/...``): the
chats, a user writing or pressing a button, and ``wait_for_change``, a long poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from demo.authenticator import Authenticator
from demo.botapi import BotApiState

PAGE_FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}
#: The API paths the proxy forwards (everything else answers 404 here).
PROXIED = ("v1/", "healthz")
PROXY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class GroupChat:
    """A group of the demo and the simulated users who write in it."""

    chat_id: int
    title: str
    members: tuple[int, ...]
    role: str  # "support" or "ops"


@dataclass(frozen=True)
class DemoSetup:
    bot_username: str
    api_url: str
    api_token: str = field(repr=False)
    groups: tuple[GroupChat, ...]
    #: The API calls the login panel offers (the page shows a control for each).
    api_calls: tuple[str, ...] = ("verify", "accounts", "enrollment-links", "challenges")

    def to_json(self) -> dict[str, Any]:
        return {
            "bot_username": self.bot_username,
            "groups": [vars(group) | {"members": list(group.members)} for group in self.groups],
            "api_calls": list(self.api_calls),
        }


class DemoPage:
    """The page's routes; `install` adds them to the stand-in's application."""

    def __init__(self, state: BotApiState, setup: DemoSetup) -> None:
        self.state = state
        self.setup = setup
        self.authenticator = Authenticator(state)
        self._http: aiohttp.ClientSession | None = None

    def install(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/page/{name}", self._page_file)
        app.router.add_get("/demo/setup", self._setup)
        app.router.add_get("/demo/authenticator", self._authenticator)
        app.router.add_route("*", "/demo/api/{path:.*}", self._proxy)
        app.on_cleanup.append(self._close)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return _page_file("index.html")

    async def _page_file(self, request: web.Request) -> web.StreamResponse:
        return _page_file(request.match_info["name"])

    async def _setup(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({**self.setup.to_json(), "bot_name": self.state.bot_name})

    async def _authenticator(self, request: web.Request) -> web.StreamResponse:
        try:
            user_id = int(request.query["user_id"])
        except (KeyError, ValueError):
            return web.json_response({"error": "user_id is required"}, status=400)
        entries = self.authenticator.entries(user_id)
        return web.json_response([entry.to_json() for entry in entries])

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        if not path.startswith(PROXIED) or ".." in path:
            return web.json_response({"error": "not_proxied"}, status=404)
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=PROXY_TIMEOUT_S)
            self._http = aiohttp.ClientSession(timeout=timeout)
        headers = {"Authorization": f"Bearer {self.setup.api_token}"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        body = await request.read() if request.body_exists else None
        url = f"{self.setup.api_url}/{path}"
        try:
            async with self._http.request(
                request.method, url, params=request.query, data=body, headers=headers
            ) as answer:
                payload = await answer.read()
                content_type = answer.content_type
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = {"error": "api_unreachable", "message": str(exc) or type(exc).__name__}
            return web.json_response(error, status=502)
        return web.Response(status=status, body=payload, content_type=content_type)

    async def _close(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()


def _page_file(name: str) -> web.StreamResponse:
    content_type = PAGE_FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    text = resources.files("demo").joinpath("page", name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=content_type, headers={"Cache-Control": "no-store"})
