"""The processes ``python -m bot`` runs: the bot (active or standby) and the API alone.

``run_bot``: on SQLite the only process (``SqliteGuard``); on PostgreSQL one of any
number, of which the holder of the leader lock is active (bot/leader.py). The services
and the HTTP API open first, so a standby serves the API while it waits; the active one
then runs python-telegram-bot's ``run_polling`` (or ``run_webhook``) on the same event
loop, with the same services.

``run_api``: the HTTP API alone, on PostgreSQL only: no Telegram polling, no jobs, no
state of its own; as many as wanted behind a load balancer (``--workers N``: see
bot/workers.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import socket

from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from api.health import Role
from api.routes import BotUsername
from api.server import build_api
from bot.app import (
    EXIT_LEADERSHIP_LOST,
    LEADERSHIP_LOST_KEY,
    NO_API,
    ProcessScope,
    build_application,
    exit_if_still_running,
    start_api,
)
from bot.leader import AlreadyRunning, LeaderLock, SqliteGuard
from bot.telegram_transport import AiohttpRequest
from core.clock import SystemClock
from core.config import ConfigError, Settings
from core.restore import refuse_unrestored_backup
from core.services import Services
from storage.db import sqlite_path

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
USERNAME_RETRY_S = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# ------------------------------------------------------------------------------ the bot


def run_bot(settings: Settings) -> int:
    """``python -m bot``: the exit status (0 stopped, 3 leader lock lost)."""
    guard = None
    if not settings.uses_postgresql:
        database = sqlite_path(settings.database_url)
        refuse_unrestored_backup(database)  # codes used since the backup would work again
        guard = SqliteGuard(database)
        try:
            guard.acquire()
        except AlreadyRunning:
            raise ConfigError(
                f"another python -m bot already runs on {settings.database_url} (it holds "
                f"{guard.path}); SQLite allows one bot process: stop that one, or move to "
                "PostgreSQL (python -m bot copy-database) for an active and a standby bot"
            ) from None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return _BotProcess(settings, loop).run()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        if guard is not None:
            guard.release()


class _BotProcess:
    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.loop = loop
        self.role = Role("bot", "standby" if settings.uses_postgresql else "active")
        self.username = BotUsername(settings.telegram_bot_username)
        self.serves_api = False

    def run(self) -> int:
        settings, loop = self.settings, self.loop
        services = loop.run_until_complete(Services.open(settings, SystemClock()))
        api = None
        leader = None
        if settings.uses_postgresql:
            leader = LeaderLock(settings.database_url, services.leadership)
        try:
            loop.run_until_complete(services.qr.warm_up())
            if loop.run_until_complete(services.clients.serves_api()):
                app = build_api(services, self.username, self.role)
                api = loop.run_until_complete(start_api(settings, app))
                self.serves_api = True
            else:
                logger.info(NO_API)
            if leader is not None:
                outcome = loop.run_until_complete(self._stand_by(leader))
                if outcome == "stopped":
                    return 0
                if outcome == "lost":  # lost again before the grace was over
                    exit_if_still_running()
                    return EXIT_LEADERSHIP_LOST
            self.role.state = "active"
            application = build_application(
                settings, scope=ProcessScope(services, self.username, leader)
            )
            self._run(application)
            if application.bot_data.get(LEADERSHIP_LOST_KEY):
                return EXIT_LEADERSHIP_LOST
            return 0
        finally:
            if api is not None:
                loop.run_until_complete(api.stop())
            if leader is not None:
                loop.run_until_complete(leader.release())
            loop.run_until_complete(services.close())

    async def _stand_by(self, leader: LeaderLock) -> str:
        """Wait for the leader lock, then the grace period: "active", "stopped" (a signal
        came first) or "lost" (the lock, during the grace)."""
        stop = asyncio.Event()
        for signum in _STOP_SIGNALS:
            self.loop.add_signal_handler(signum, stop.set)
        learning = None
        if self.username.value is None and self.serves_api:
            # The API's enrolment links need it while this process stands by.
            learning = asyncio.create_task(learn_bot_username(self.settings, self.username))
        stopped = asyncio.create_task(stop.wait())
        try:
            acquired = asyncio.create_task(leader.acquire())
            await asyncio.wait({acquired, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not acquired.done():
                acquired.cancel()
                logger.info("stopped while standing by")
                return "stopped"
            acquired.result()
            grace = leader.timing.grace
            logger.info("active in %.1f s (a bot that lost the lock stops first)", grace)
            lost = asyncio.create_task(leader.lost.wait())
            await asyncio.wait({stopped, lost}, timeout=grace)
            lost.cancel()
            if stop.is_set():
                return "stopped"
            return "lost" if leader.lost.is_set() else "active"
        finally:
            stopped.cancel()
            if learning is not None:
                learning.cancel()
            for signum in _STOP_SIGNALS:
                self.loop.remove_signal_handler(signum)

    def _run(self, app: Application) -> None:
        """python-telegram-bot's own run loop, on this process's loop (left open)."""
        settings = self.settings
        if settings.webhook_url is None:
            app.run_polling(allowed_updates=ALLOWED_UPDATES, close_loop=False)
            return
        _check_free(settings.webhook_host, settings.webhook_port)
        logger.info(
            "webhook mode: Telegram posts to %s, served on %s:%s%s",
            settings.webhook_url,
            settings.webhook_host,
            settings.webhook_port,
            settings.webhook_path,
        )
        app.run_webhook(
            listen=settings.webhook_host,
            port=settings.webhook_port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            close_loop=False,
        )


def _check_free(host: str, port: int) -> None:
    """The webhook's port, tried before python-telegram-bot binds it (its error would
    say nothing about which setting to change)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"WEBHOOK_HOST/WEBHOOK_PORT: cannot listen on {host}:{port} "
                f"({exc.strerror or exc}); pick a free port"
            ) from None


# ------------------------------------------------------------------------------ the API


def check_api_role(settings: Settings) -> None:
    """What ``python -m bot api`` needs, refused with one line each."""
    if not settings.uses_postgresql:
        raise ConfigError(
            "python -m bot api needs PostgreSQL (DATABASE_URL=postgresql://...): on SQLite "
            "the API runs inside python -m bot (with API_TOKEN, or a client from python -m bot "
            "clients add)"
        )


def run_api(settings: Settings) -> int:
    """``python -m bot api`` in this process."""
    check_api_role(settings)
    return asyncio.run(_serve_api(settings))


async def _serve_api(settings: Settings) -> int:
    username = BotUsername(settings.telegram_bot_username)
    learning = None
    # One getMe now: a refused token stops the start; an unreachable Telegram does not
    # (codes are checked without it): the links wait for a later answer.
    if username.value is None and not await ask_bot_username(settings, username):
        learning = asyncio.create_task(learn_bot_username(settings, username))
    # No QR codes here: no worker process for them.
    services = await Services.open(
        dataclasses.replace(settings, qr_render_processes=0), SystemClock()
    )
    services.leadership.stand_by()  # never sends: the outboxes are the active bot's
    try:
        if not await services.clients.serves_api():
            raise ConfigError(
                "python -m bot api has no client to serve: add one with `python -m bot "
                "clients add NAME --scopes ...`, or set API_TOKEN"
            )
        app = build_api(services, username, Role("api"))
        server = await start_api(settings, app, reuse_port=True)
        logger.info("2FA Desk API started")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await server.stop()
        logger.info("2FA Desk API stopped")
    finally:
        if learning is not None:
            learning.cancel()
        await services.close()
    return 0


# ------------------------------------------------------------------ the bot's username


async def ask_bot_username(settings: Settings, into: BotUsername) -> bool:
    """One getMe; True when it answered. A refused token is a ConfigError."""
    request = AiohttpRequest()
    bot = Bot(
        settings.telegram_bot_token,
        base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
        request=request,
        get_updates_request=request,
    )
    try:
        async with bot:  # initialize() asks getMe
            username = bot.username
    except InvalidToken:
        raise ConfigError(
            "the Bot API refused TELEGRAM_BOT_TOKEN; check it with @BotFather"
        ) from None
    except TelegramError as exc:
        logger.warning(
            "Telegram did not answer getMe (%s): enrolment links wait for the bot's "
            "username; set TELEGRAM_BOT_USERNAME to need no answer",
            exc,
        )
        return False
    into.value = username
    logger.info("enrolment links name @%s", username)
    return True


async def learn_bot_username(settings: Settings, into: BotUsername) -> None:
    """getMe until it answers (the API's links need the username)."""
    while into.value is None:
        try:
            if await ask_bot_username(settings, into):
                return
        except ConfigError as exc:
            logger.error("%s", exc)
            return
        await asyncio.sleep(USERNAME_RETRY_S)
