"""The composition root: settings in, a ready python-telegram-bot Application out.

``python -m bot`` (bot/roles.py) opens the services and the HTTP API before the
election and hands them over in a ``ProcessScope``: they outlive the Application, and a
standby serves the API meanwhile. Without a scope (the handler tests) the Application
opens and closes them itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass

from aiohttp import web
from telegram import BotCommand, BotCommandScopeAllPrivateChats
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

import handlers
from api.routes import BotUsername
from api.server import ApiServer, build_api
from bot.inbox import InboxQueue, InboxUpdateProcessor
from bot.leader import LeaderLock
from bot.telegram_transport import AiohttpRequest
from bot.webhook_sender import INTERVAL_S as WEBHOOK_INTERVAL_S
from bot.webhook_sender import WebhookSender
from core.clock import Clock, SystemClock
from core.config import ConfigError, Settings
from core.languages import DEFAULT as DEFAULT_LANGUAGE
from core.languages import LANGUAGES
from core.metrics import Metrics
from core.services import Services
from handlers.alerts import deliver as deliver_alerts
from handlers.alerts import deliver_job as alert_job
from handlers.alerts import retention_job
from handlers.audit import CHAIN_INTERVAL_S, HEAD_INTERVAL_S
from handlers.audit import chain_job as audit_chain_job
from handlers.audit import head_job as audit_head_job
from handlers.challenges import JOB_INTERVAL_S as CHALLENGE_INTERVAL_S
from handlers.challenges import challenge_job
from handlers.cleanup import cleanup_job
from handlers.common import SERVICES_KEY
from handlers.enrolment import expire_job
from handlers.errors import on_error
from handlers.notices import deliver_job as notice_job
from handlers.ops import STARTED_AT_KEY
from handlers.support_sync import sync_job as support_sync_job
from handlers.texts import format as fmt
from handlers.texts import tr, using
from handlers.texts import user as texts

logger = logging.getLogger(__name__)
API_KEY = "api"
NO_API = (
    "the HTTP API is not started: API_TOKEN is not set and there is no API client "
    "(python -m bot clients add)"
)
WATCH_KEY = "leader_watch"
WEBHOOKS_KEY = "webhook_sender"
# Set when the leader lock was lost: the process stops at once and sends nothing more.
LEADERSHIP_LOST_KEY = "leadership_lost"
EXIT_LEADERSHIP_LOST = 3  # non-zero: systemd (Restart=on-failure) starts it again, as standby
# A bot that lost the lock stops cleanly within this long, or exits at once: its stop may
# wait for work stuck on a silent database, and it must not linger (it sends nothing
# meanwhile: the lease has lapsed, the transport refuses).
LOST_EXIT_DEADLINE_S = 5.0

# Updates of different users run concurrently, up to this many at once; each holds at
# most one Bot API connection, so the pool is a little larger and never makes one wait.
# (httpx scans its whole pool on every request: a pool far larger than needed costs CPU.)
CONCURRENT_UPDATES = 32
CONNECTION_POOL_SIZE = 48
EXPIRY_INTERVAL_S = 30
CLEANUP_INTERVAL_S = 15
SUPPORT_SYNC_INTERVAL_S = 30
ALERT_INTERVAL_S = 5
RETENTION_INTERVAL_S = 24 * 3600


async def set_commands(app: Application) -> None:
    """The command menu in every language: English for all, German for German apps."""
    for language in LANGUAGES:
        with using(language):
            commands = [BotCommand(name, tr(description)) for name, description in texts.COMMANDS]
        await app.bot.set_my_commands(
            commands,
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == DEFAULT_LANGUAGE else language,
        )


@dataclass
class ProcessScope:
    """What ``python -m bot`` opened before it became the active bot."""

    services: Services
    bot_username: BotUsername
    leader: LeaderLock | None = None  # PostgreSQL: the lock to keep; None on SQLite


async def start_api(
    settings: Settings, api: web.Application, *, reuse_port: bool = False
) -> ApiServer:
    """Listen on API_HOST:API_PORT; a port that cannot be had is a ConfigError."""
    server = ApiServer(api, settings.api_host, settings.api_port, reuse_port=reuse_port)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(
            f"API_HOST/API_PORT: cannot listen on {settings.api_host}:"
            f"{settings.api_port} ({exc.strerror or exc}); pick a free port"
        ) from None
    return server


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    scope: ProcessScope | None = None,
) -> Application:
    """Build the bot. Without a ``scope`` the database opens in ``post_init`` and closes
    in ``post_shutdown``; with one, its owner opens and closes it."""
    the_clock = clock or SystemClock()
    fmt.set_timezone(settings.timezone)
    fmt.set_clock(the_clock)
    metrics = scope.services.metrics if scope else Metrics()

    async def post_init(app: Application) -> None:
        if scope is None:
            svc = await Services.open(settings, the_clock, metrics)
            app.bot_data[SERVICES_KEY] = svc
            await svc.qr.warm_up()
            if await svc.clients.serves_api():
                api = build_api(svc, app.bot.username)
                app.bot_data[API_KEY] = await start_api(settings, api)
            else:
                logger.info(NO_API)
        else:
            svc = scope.services
            app.bot_data[SERVICES_KEY] = svc
            configured = scope.bot_username.value
            if configured is not None and configured.lower() != app.bot.username.lower():
                logger.warning(
                    "TELEGRAM_BOT_USERNAME is @%s but Telegram says this bot is @%s: "
                    "enrolment links from python -m bot api name the wrong bot; fix the setting",
                    configured,
                    app.bot.username,
                )
            scope.bot_username.value = app.bot.username
            if scope.leader is not None:
                app.bot_data[WATCH_KEY] = asyncio.create_task(
                    _stop_when_lost(app, scope.leader), name="leader-watch"
                )
        app.bot_data[STARTED_AT_KEY] = the_clock.now()
        # Before polling starts or the webhook listens: the earlier ones first.
        await inbox_queue.open(svc.inbox, app.bot)
        await set_commands(app)
        if app.job_queue is not None:
            # first=0: deadlines that passed while the bot was down apply at once.
            app.job_queue.run_repeating(
                expire_job, interval=EXPIRY_INTERVAL_S, first=0, name="expire-enrolments"
            )
            app.job_queue.run_repeating(
                cleanup_job, interval=CLEANUP_INTERVAL_S, first=1, name="chat-cleanup"
            )
            app.job_queue.run_repeating(
                support_sync_job, interval=SUPPORT_SYNC_INTERVAL_S, first=0, name="support-sync"
            )
            app.job_queue.run_repeating(
                alert_job, interval=ALERT_INTERVAL_S, first=0, name="alerts"
            )
            app.job_queue.run_repeating(
                notice_job, interval=ALERT_INTERVAL_S, first=1, name="notices"
            )
            # Login approvals: the user waits at the login screen for this message.
            app.job_queue.run_repeating(
                challenge_job, interval=CHALLENGE_INTERVAL_S, first=0, name="challenges"
            )
            app.job_queue.run_repeating(
                retention_job, interval=RETENTION_INTERVAL_S, first=60, name="retention"
            )
            app.bot_data[WEBHOOKS_KEY] = WebhookSender(
                svc.webhooks,
                the_clock,
                active=svc.leadership.is_current,  # only the active bot sends
            )
            app.job_queue.run_repeating(
                webhook_job, interval=WEBHOOK_INTERVAL_S, first=0, name="webhooks"
            )
            app.job_queue.run_repeating(
                audit_chain_job, interval=CHAIN_INTERVAL_S, first=0, name="audit-chain"
            )
            # The head at start, then once a day.
            app.job_queue.run_repeating(
                audit_head_job, interval=HEAD_INTERVAL_S, first=2, name="audit-head"
            )
        await svc.alerts.raise_event("bot_started", "info", bot=f"@{app.bot.username}")
        logger.info("2FA Desk started as @%s", app.bot.username)

    async def post_stop(app: Application) -> None:
        # Polling has stopped, the bot can still send: the stop alert, and whatever else is
        # due, goes out now. What cannot be delivered stays queued for the next start.
        watch = app.bot_data.pop(WATCH_KEY, None)
        if watch is not None:
            watch.cancel()
        sender = app.bot_data.pop(WEBHOOKS_KEY, None)
        if sender is not None:
            await sender.stop()  # what was not marked delivered is sent again, same id
        svc = app.bot_data.get(SERVICES_KEY)
        if svc is None:
            return
        if app.bot_data.get(LEADERSHIP_LOST_KEY):
            # Another bot may be active already: it sends the outboxes, not this one.
            return
        try:  # the last rows written, chained before the bot goes
            await svc.audit_chain.chain_pending()
        except Exception as exc:
            logger.warning("audit rows not chained at stop: %s", exc)
        try:
            await svc.alerts.raise_event("bot_stopped", "info", bot=f"@{app.bot.username}")
            await deliver_alerts(app.bot, svc)
        except Exception as exc:
            logger.warning("alerts not delivered at stop: %s", exc)

    async def post_shutdown(app: Application) -> None:
        # If start-up failed half-way (token refused, Bot API unreachable), PTB does not
        # shut the bot's HTTP sessions down: close ours (closing twice is harmless).
        for transport in transports:
            await transport.shutdown()
        if scope is None:
            api = app.bot_data.pop(API_KEY, None)
            if api is not None:
                await api.stop()
            svc = app.bot_data.pop(SERVICES_KEY, None)
            if svc is not None:
                await svc.close()
        logger.info("2FA Desk stopped" if scope is None else "the bot stopped polling")

    # Each update is stored before Telegram may consider it delivered (webhook mode: the
    # 200; polling: the next getUpdates' offset), and handled once (bot/inbox.py): a
    # crash, a restart or a take-over by the standby loses nothing a user sent.
    inbox_queue = InboxQueue()
    processor = InboxUpdateProcessor(inbox_queue, CONCURRENT_UPDATES, metrics.update_latency)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .concurrent_updates(processor)
        # Telegram's flood control: a 429 is waited out (retry_after) and the call retried.
        # No overall cap of our own: Telegram's answer is the limit.
        .rate_limiter(AIORateLimiter(overall_max_rate=0, max_retries=3))
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    transports: list[AiohttpRequest] = []
    if request is None:
        # Elected (PostgreSQL): nothing goes to Telegram once this bot may not send.
        leadership = scope.services.leadership if scope and scope.leader else None
        request = AiohttpRequest(connection_pool_size=CONNECTION_POOL_SIZE, leadership=leadership)
        get_updates_request = AiohttpRequest(connection_pool_size=1, leadership=leadership)
        transports.extend([request, get_updates_request])
    builder = builder.request(request).get_updates_request(get_updates_request or request)
    builder = builder.update_queue(inbox_queue)
    app = builder.build()
    handlers.register_all(app, settings.support_chat_id)
    app.add_error_handler(on_error)
    return app


async def _stop_when_lost(app: Application, leader: LeaderLock) -> None:
    await leader.lost.wait()
    _leadership_lost(app)


async def webhook_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    sender = context.bot_data.get(WEBHOOKS_KEY)
    if sender is not None:
        await sender.tick()


def _leadership_lost(app: Application) -> None:
    app.bot_data[LEADERSHIP_LOST_KEY] = True
    exit_if_still_running()
    app.stop_running()


def exit_if_still_running() -> None:
    """Exit with EXIT_LEADERSHIP_LOST after LOST_EXIT_DEADLINE_S, stopped cleanly or not."""

    def exit_now() -> None:
        logger.error(
            "the bot did not stop within %.0f s of losing the leader lock: exiting now",
            LOST_EXIT_DEADLINE_S,
        )
        os._exit(EXIT_LEADERSHIP_LOST)

    timer = threading.Timer(LOST_EXIT_DEADLINE_S, exit_now)
    timer.daemon = True
    timer.start()
