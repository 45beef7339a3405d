"""The API's aiohttp application, served on API_HOST:API_PORT in the bot's event loop."""

from __future__ import annotations

import logging

from aiohttp import web

from api.auth import bearer_auth
from api.errors import ALERTS, json_errors
from api.routes import BOT_USERNAME, SERVICES, routes
from bot.services import Services

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024


def build_api(services: Services, token: str, bot_username: str) -> web.Application:
    app = web.Application(
        middlewares=[json_errors, bearer_auth(token)], client_max_size=MAX_BODY_BYTES
    )
    app[SERVICES] = services
    app[ALERTS] = services.alerts
    app[BOT_USERNAME] = bot_username
    app.add_routes(routes)
    return app


class ApiServer:
    """Start and stop the API next to the bot (same process, same event loop)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
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
