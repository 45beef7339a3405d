"""The API's aiohttp application, served on API_HOST:API_PORT: in the bot's event loop
(``python -m bot``) or alone (``python -m bot api``)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from api.auth import check_scopes, client_auth
from api.challenges import routes as challenge_routes
from api.errors import ALERTS, MALFORMED_REQUEST, json_errors
from api.health import Role
from api.radius import routes as radius_routes
from api.routes import BOT_USERNAME, ROLE, SERVICES, BotUsername, routes
from core.services import Services

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024


def build_api(
    services: Services,
    bot_username: str | BotUsername,
    role: Role | None = None,
) -> web.Application:
    """``bot_username`` may be learnt later (a ``BotUsername`` filled in once known);
    ``role`` is what ``/healthz`` reports (default: the bot, active). The tokens are the
    clients' (``services.clients``: the database's, and API_TOKEN's)."""
    app = web.Application(
        middlewares=[json_errors, client_auth(services.clients, services.rate_limits)],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SERVICES] = services
    app[ALERTS] = services.alerts
    app[BOT_USERNAME] = (
        bot_username if isinstance(bot_username, BotUsername) else BotUsername(bot_username)
    )
    app[ROLE] = role or Role("bot", "active")
    app.add_routes(routes)
    app.add_routes(radius_routes)
    app.add_routes(challenge_routes)
    check_scopes(app.router.routes())  # a route without a declared scope stops the start
    return app


class _ApiConnection(RequestHandler):
    """aiohttp's connection protocol, answering HTTP it cannot parse in the API's words.

    aiohttp's own answer is plain text that quotes the offending line (which may hold
    a token), logged at ERROR with a traceback for every such request. Here it is a
    JSON 400 that quotes nothing, and one line in the log. ``handle_error`` and
    ``log_exception`` are aiohttp's hooks for this; tests/test_api_hardening.py sends
    malformed requests over a socket, so an aiohttp upgrade that moves them shows.
    """

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # Never exc.message: it quotes the request.
        logger.info(
            "malformed HTTP request from %s refused (%s)", request.remote, type(exc).__name__
        )
        response = web.json_response(
            MALFORMED_REQUEST, status=status if 400 <= status < 500 else 400
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        if isinstance(kw.get("exc_info"), (HttpProcessingError, web.RequestPayloadError)):
            # The rest of a broken request body, read after the 400 went out: the
            # refusal is already logged (api.errors); no second line, no traceback.
            logger.debug("the rest of a malformed request body was discarded")
            return
        super().log_exception(*args, **kw)


class _ApiHttpServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _ApiConnection(self, loop=self._loop, **self._kwargs)


class _ApiRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are ``_ApiConnection``s."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The same application handler, request factory and settings as aiohttp
        # chose; only the class of each connection differs.
        return _ApiHttpServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


class ApiServer:
    """Start and stop the API (next to the bot, or alone).

    ``reuse_port``: several processes listen on the same port and the kernel spreads
    the connections among them (SO_REUSEPORT): ``python -m bot api --workers N``.
    """

    def __init__(
        self, app: web.Application, host: str, port: int, *, reuse_port: bool = False
    ) -> None:
        self._runner = _ApiRunner(app, access_log=None, shutdown_timeout=5.0)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port

    async def start(self) -> None:
        await self._runner.setup()
        try:
            site = web.TCPSite(
                self._runner, self._host, self._port, reuse_port=self._reuse_port or None
            )
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        logger.info("HTTP API listening on %s:%s", self._host, self.port)

    @property
    def port(self) -> int:
        """The port actually bound."""
        addresses = self._runner.addresses
        return addresses[0][1] if addresses else self._port

    async def stop(self) -> None:
        await self._runner.cleanup()
