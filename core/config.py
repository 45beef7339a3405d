"""The one settings object, read from the environment and a ``.env`` file.

A missing or malformed variable raises ``ConfigError`` with one line that names
it and says how to fix it; ``python -m bot`` prints that line and exits. How each
variable is read and checked: ``core/config_values.py``.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from core import config_values as read
from core.clients import DEFAULT_AUTH_FAILURE_LIMIT, DEFAULT_RATE_LIMIT
from core.config_values import (
    DEFAULT_BASE_FILE_URL,
    DEFAULT_BASE_URL,
    DEFAULT_CHALLENGE_SECONDS,
    DEFAULT_DATABASE_URL,
    DEFAULT_ISSUER,
    ConfigError,
    is_postgresql_url,
)

# Read by the commands before there are settings (a database and nothing else).
from core.config_values import database_password as database_password
from core.config_values import database_url as database_url
from core.config_values import existing_sqlite_path as existing_sqlite_path
from core.crypto import SecretBox

DEFAULT_WEBHOOK_PORT = 8443


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str = field(repr=False)
    secrets_key: bytes = field(repr=False)
    # Older keys that open what they sealed, never seal (key rotation: core/keys.py).
    secrets_keys_previous: tuple[bytes, ...] = field(default=(), repr=False)
    telegram_base_url: str = DEFAULT_BASE_URL
    telegram_base_file_url: str = DEFAULT_BASE_FILE_URL
    database_url: str = DEFAULT_DATABASE_URL
    totp_issuer: str = DEFAULT_ISSUER
    support_chat_id: int | None = None
    ops_chat_id: int | None = None
    admin_user_ids: frozenset[int] = frozenset()
    support_agent_ids: frozenset[int] = frozenset()
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_token: str | None = field(default=None, repr=False)
    # Requests per client and process, and failed authentications per address and
    # process, in the ``limits`` notation (core/clients.py).
    api_rate_limit: str = DEFAULT_RATE_LIMIT
    api_auth_failure_limit: str = DEFAULT_AUTH_FAILURE_LIMIT
    log_level: str = "INFO"
    enrolment_ttl: timedelta = timedelta(minutes=10)
    enrolment_max_attempts: int = 5
    enrollment_link_ttl: timedelta = timedelta(hours=1)
    deactivation_default: timedelta = timedelta(hours=24)
    deactivation_max: timedelta = timedelta(hours=72)
    request_ttl: timedelta = timedelta(hours=48)
    request_sla: timedelta = timedelta(minutes=30)
    # delivered alerts and notices older than this are pruned (the audit log is kept)
    retention: timedelta = timedelta(days=90)
    timezone: str = "UTC"  # IANA name; every time shown in a chat (the API stays UTC)
    support_language: str = "en"
    ops_language: str = "en"
    log_format: str = "text"
    # Worker processes that render QR codes (0: a thread); one when there is a spare core.
    qr_render_processes: int = 0
    # For enrolment links where nothing asks Telegram (python -m bot api); None: getMe.
    telegram_bot_username: str | None = None
    # Webhook mode when set (the public HTTPS URL Telegram posts to); None: long polling.
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_host: str = "127.0.0.1"
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    # Approve a login in the chat (core/challenges.py): PUSH_APPROVAL, CHALLENGE_SECONDS.
    push_approval: bool = True
    challenge_ttl: timedelta = timedelta(seconds=DEFAULT_CHALLENGE_SECONDS)

    @property
    def uses_postgresql(self) -> bool:
        return is_postgresql_url(self.database_url)

    def keyring(self) -> SecretBox:
        """SECRETS_KEY to seal and open, SECRETS_KEYS_PREVIOUS to open only."""
        return SecretBox(self.secrets_key, previous=self.secrets_keys_previous)

    @property
    def webhook_path(self) -> str:
        """The path the webhook is served on: the path of TELEGRAM_WEBHOOK_URL."""
        return urllib.parse.urlsplit(self.webhook_url or "").path or "/"


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build the settings from a mapping of environment variables."""
    token = read.bot_token(env)
    secrets_key = read.secrets_key(env)
    issuer = read.totp_issuer(env)
    api_host = env.get("API_HOST", "").strip() or "127.0.0.1"
    api_port = read.port(env, "API_PORT", 8080)
    level = read.log_level(env)

    base_url = read.base_url(env, "TELEGRAM_BASE_URL", DEFAULT_BASE_URL, "/bot")
    webhook_url = read.webhook_url(env, base_url)
    webhook_host = env.get("WEBHOOK_HOST", "").strip() or "127.0.0.1"
    webhook_port = read.port(env, "WEBHOOK_PORT", DEFAULT_WEBHOOK_PORT)
    api_token = read.api_token(env)
    if (
        webhook_url
        and api_token
        and webhook_port == api_port
        and read.same_address(webhook_host, api_host)
    ):
        raise ConfigError(
            f"WEBHOOK_PORT and API_PORT are both {api_port} on one address; "
            "give the webhook a port of its own"
        )

    deactivation_default = read.duration(env, "DEACTIVATION_HOURS", 24, "hours", 24 * 30)
    deactivation_max = read.duration(env, "DEACTIVATION_MAX_HOURS", 72, "hours", 24 * 30)
    if deactivation_default > deactivation_max:
        raise ConfigError("DEACTIVATION_HOURS must not exceed DEACTIVATION_MAX_HOURS")

    return Settings(
        telegram_bot_token=token,
        secrets_key=secrets_key,
        secrets_keys_previous=read.previous_keys(env),
        telegram_base_url=base_url,
        telegram_base_file_url=read.base_url(
            env, "TELEGRAM_BASE_FILE_URL", DEFAULT_BASE_FILE_URL, "/file/bot"
        ),
        database_url=database_url(env),
        totp_issuer=issuer,
        support_chat_id=read.chat_id(env, "SUPPORT_CHAT_ID"),
        ops_chat_id=read.chat_id(env, "OPS_CHAT_ID"),
        admin_user_ids=read.id_list(env, "ADMIN_USER_IDS"),
        support_agent_ids=read.id_list(env, "SUPPORT_AGENT_IDS"),
        api_host=api_host,
        api_port=api_port,
        api_token=api_token,
        api_rate_limit=read.rate(
            env, "API_RATE_LIMIT", DEFAULT_RATE_LIMIT, "requests per API client and process"
        ),
        api_auth_failure_limit=read.rate(
            env,
            "API_AUTH_FAILURE_LIMIT",
            DEFAULT_AUTH_FAILURE_LIMIT,
            "failed authentications per address and process",
        ),
        log_level=level,
        qr_render_processes=1 if (os.cpu_count() or 1) > 1 else 0,
        deactivation_default=deactivation_default,
        deactivation_max=deactivation_max,
        request_ttl=read.duration(env, "REQUEST_EXPIRY_HOURS", 48, "hours", 24 * 30),
        request_sla=read.duration(env, "REQUEST_SLA_MINUTES", 30, "minutes", 24 * 60 * 7),
        enrollment_link_ttl=read.duration(
            env, "ENROLLMENT_LINK_MINUTES", 60, "minutes", 24 * 60 * 7
        ),
        retention=read.duration(env, "RETENTION_DAYS", 90, "days", 3650),
        timezone=read.timezone(env),
        support_language=read.language(env, "SUPPORT_LANGUAGE"),
        ops_language=read.language(env, "OPS_LANGUAGE"),
        log_format=read.log_format(env),
        telegram_bot_username=read.bot_username(env),
        webhook_url=webhook_url,
        webhook_secret=read.webhook_secret(env, token) if webhook_url else None,
        webhook_host=webhook_host,
        webhook_port=webhook_port,
        push_approval=read.push_approval(env),
        challenge_ttl=read.challenge_seconds(env),
    )
