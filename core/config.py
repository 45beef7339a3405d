"""The one settings object, read from the environment and a ``.env`` file.

A missing or malformed variable raises ``ConfigError`` with one line that names
it and says how to fix it; ``python -m bot`` prints that line and exits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clients import DEFAULT_AUTH_FAILURE_LIMIT, DEFAULT_RATE_LIMIT, rate_limit
from core.crypto import SecretBox, SecretsKeyError, decode_key
from core.languages import LANGUAGES
from storage.db import POSTGRESQL_PREFIXES, DatabaseUrlError, sqlite_path

DEFAULT_DATABASE_URL = "sqlite:///data/twofa.sqlite3"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_BASE_FILE_URL = "https://api.telegram.org/file/bot"
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
MIN_API_TOKEN_LENGTH = 32
# Telegram's rules: 5 to 32 characters, letters, digits and underscores, ending in "bot".
_BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,29}[Bb][Oo][Tt]$")
# Telegram's rule for setWebhook's secret_token; ours: as long as API_TOKEN, since the
# secret is all that tells Telegram's posts from anyone's.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MIN_WEBHOOK_SECRET_LENGTH = MIN_API_TOKEN_LENGTH
DEFAULT_WEBHOOK_PORT = 8443
PUSH_APPROVAL_MODES = ("number_match", "off")
DEFAULT_CHALLENGE_SECONDS = 60
CHALLENGE_SECONDS_RANGE = (10, 600)
# A key as `python -m bot genkey` prints it: 32 bytes in URL-safe base64 (the padding
# optional).
_ONE_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=?$")


class ConfigError(Exception):
    """A configuration problem, worded for the person starting the bot."""


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: str = field(repr=False)
    secrets_key: bytes = field(repr=False)
    # Older keys that open what they sealed, never seal (key rotation: core/keys.py).
    secrets_keys_previous: tuple[bytes, ...] = field(default=(), repr=False)
    telegram_base_url: str = DEFAULT_BASE_URL
    telegram_base_file_url: str = DEFAULT_BASE_FILE_URL
    database_url: str = DEFAULT_DATABASE_URL
    totp_issuer: str = "2FA Desk"
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


def is_postgresql_url(url: str) -> bool:
    return url.startswith(POSTGRESQL_PREFIXES)  # storage.db.backend_of, without raising


def _required(env: Mapping[str, str], name: str, how: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {how}")
    return value


def _chat_id(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a numeric Telegram chat id (e.g. -1001234567890), got {value!r}"
        ) from None


def _id_list(env: Mapping[str, str], name: str) -> frozenset[int]:
    value = env.get(name, "").strip()
    if not value:
        return frozenset()
    try:
        return frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be comma-separated numeric Telegram user ids, got {value!r}"
        ) from None


def _base_url(env: Mapping[str, str], name: str, default: str, suffix: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")) or not value.endswith(suffix):
        raise ConfigError(f"{name} must be an http(s) URL ending in {suffix!r}, got {value!r}")
    return value


def _duration(env: Mapping[str, str], name: str, default: int, unit: str, most: int) -> timedelta:
    """A whole number of ``unit`` ("hours", "days", "minutes") from 1 to ``most``."""
    value = env.get(name, "").strip() or str(default)
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise ConfigError(
            f"{name} must be a whole number of {unit} from 1 to {most}, got {value!r}"
        )
    return timedelta(**{unit: int(value)})


def _api_token(env: Mapping[str, str]) -> str | None:
    value = env.get("API_TOKEN", "").strip()
    if not value:
        return None  # no token, no API
    if len(value) < MIN_API_TOKEN_LENGTH:
        # Never the value itself: it is a secret, and this line goes to the terminal.
        raise ConfigError(
            f"API_TOKEN must be at least {MIN_API_TOKEN_LENGTH} characters (it has "
            f"{len(value)}); generate one with `openssl rand -hex 32` or "
            "`python -m bot genkey`"
        )
    return value


def _rate(env: Mapping[str, str], name: str, default: str, what: str) -> str:
    value = env.get(name, "").strip() or default
    try:
        rate_limit(value)
    except ValueError as exc:
        raise ConfigError(f"{name} ({what}) {exc}") from None
    return value


def _previous_keys(env: Mapping[str, str]) -> tuple[bytes, ...]:
    """SECRETS_KEYS_PREVIOUS: comma-separated keys, each checked like SECRETS_KEY; an
    empty entry (a trailing comma) is skipped, the current key among them is harmless."""
    value = env.get("SECRETS_KEYS_PREVIOUS", "").strip()
    if not value:
        return ()
    entries = value.split(",")
    keys = []
    for position, entry in enumerate(entries, 1):
        if not entry.strip():
            continue
        try:
            if not _ONE_KEY.match(entry.strip()):
                # base64 decoding stops at the padding: two keys run together, or one with
                # more after it, would pass as the first key alone.
                raise SecretsKeyError("not one key of 44 characters")
            keys.append(decode_key(entry))
        except SecretsKeyError as exc:
            # Which entry, never its value: it is a secret, and this line goes to the terminal.
            raise ConfigError(
                f"SECRETS_KEYS_PREVIOUS entry {position} of {len(entries)} is malformed "
                f"({exc}); list earlier values of SECRETS_KEY as `python -m bot genkey` "
                "printed them, separated by commas"
            ) from None
    return tuple(keys)


def _timezone(env: Mapping[str, str]) -> str:
    value = env.get("TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIMEZONE must be an IANA time zone name such as Europe/Berlin or UTC, got {value!r}"
        ) from None
    return value


def _language(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip().lower() or "en"
    if value not in LANGUAGES:
        raise ConfigError(f"{name} must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip() or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"{name} must be a port number from 1 to 65535, got {value!r}")
    return int(value)


def database_url(env: Mapping[str, str]) -> str:
    """DATABASE_URL, checked: an SQLite path or a PostgreSQL URL."""
    value = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if is_postgresql_url(value):
        from psycopg import conninfo

        try:
            conninfo.conninfo_to_dict(value)
        except Exception:  # psycopg's ProgrammingError; its message may quote a password
            raise ConfigError(
                "DATABASE_URL is not a valid PostgreSQL URL; write it as "
                "postgresql://user:password@host:5432/database (percent-encode special "
                "characters in the password)"
            ) from None
        return value
    try:
        sqlite_path(value)
    except DatabaseUrlError as exc:
        raise ConfigError(
            f"DATABASE_URL: {exc}, or postgresql://user:password@host/database"
        ) from None
    return value


def existing_sqlite_path(url: str, doing: str = "") -> Path:
    """The SQLite file an sqlite:/// DATABASE_URL names; a ConfigError when it is not
    there (opening it would create an empty one). ``doing``: what it was wanted for."""
    path = sqlite_path(url)
    if not path.is_file():
        raise ConfigError(f"DATABASE_URL: there is no SQLite database at {path}{doing}")
    return path


def database_password(url: str) -> str | None:
    """The password in a PostgreSQL URL, for the log redaction."""
    if not is_postgresql_url(url):
        return None
    password = urllib.parse.urlsplit(url).password
    return urllib.parse.unquote(password) if password else None


def _bot_username(env: Mapping[str, str]) -> str | None:
    value = env.get("TELEGRAM_BOT_USERNAME", "").strip().removeprefix("@")
    if not value:
        return None
    if not _BOT_USERNAME.match(value):
        raise ConfigError(
            "TELEGRAM_BOT_USERNAME must be the bot's username as @BotFather shows it "
            f"(5 to 32 letters, digits or _, ending in bot), got {value!r}"
        )
    return value


def _webhook_url(env: Mapping[str, str], base_url: str) -> str | None:
    value = env.get("TELEGRAM_WEBHOOK_URL", "").strip()
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    # Telegram delivers to HTTPS only; a self-hosted Bot API server (or the local test
    # server) may deliver over plain HTTP.
    schemes = ("https",) if base_url == DEFAULT_BASE_URL else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            "TELEGRAM_WEBHOOK_URL must be the public https:// URL your reverse proxy "
            f"forwards to the bot, without ?query or #fragment, got {value!r}"
        )
    return value


def _webhook_secret(env: Mapping[str, str], token: str) -> str:
    value = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    if not value:
        # Derived from the bot token: every bot process of the deployment agrees on it
        # with nothing more to configure, and revoking the token in @BotFather changes it.
        digest = hmac.new(token.encode(), b"2FA Desk webhook secret", hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
    if not _WEBHOOK_SECRET.match(value):
        # Never the value itself: it is a secret.
        raise ConfigError(
            f"TELEGRAM_WEBHOOK_SECRET must be {MIN_WEBHOOK_SECRET_LENGTH} to 256 characters of"
            " A-Z, a-z, 0-9, _ and - (Telegram's rule); generate one with `openssl rand -hex"
            " 32`, or leave it unset to derive one from the bot token"
        )
    if len(value) < MIN_WEBHOOK_SECRET_LENGTH:
        raise ConfigError(
            f"TELEGRAM_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET_LENGTH} characters"
            f" (it has {len(value)}); generate one with `openssl rand -hex 32`, or leave it"
            " unset to derive one from the bot token"
        )
    return value


def _same_address(host_a: str, host_b: str) -> bool:
    """Whether two listen addresses overlap (a wildcard overlaps every address)."""
    wildcard = {"", "0.0.0.0", "::"}  # noqa: S104 - compared, never bound
    if host_a in wildcard or host_b in wildcard:
        return True
    try:
        return ipaddress.ip_address(host_a) == ipaddress.ip_address(host_b)
    except ValueError:
        return host_a == host_b


def _push_approval(env: Mapping[str, str]) -> bool:
    value = env.get("PUSH_APPROVAL", "").strip().lower() or PUSH_APPROVAL_MODES[0]
    if value not in PUSH_APPROVAL_MODES:
        raise ConfigError(
            f"PUSH_APPROVAL must be one of {', '.join(PUSH_APPROVAL_MODES)}, got {value!r}"
        )
    return value != "off"


def _challenge_seconds(env: Mapping[str, str]) -> timedelta:
    value = env.get("CHALLENGE_SECONDS", "").strip() or str(DEFAULT_CHALLENGE_SECONDS)
    least, most = CHALLENGE_SECONDS_RANGE
    if not value.isdigit() or not least <= int(value) <= most:
        raise ConfigError(
            f"CHALLENGE_SECONDS must be a whole number of seconds from {least} to {most}, "
            f"got {value!r}"
        )
    return timedelta(seconds=int(value))


def _log_format(env: Mapping[str, str]) -> str:
    value = (env.get("LOG_FORMAT", "").strip() or "text").lower()
    if value not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, got {value!r}")
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build the settings from a mapping of environment variables."""
    token = _required(env, "TELEGRAM_BOT_TOKEN", "put the token from @BotFather in .env")
    if not _TOKEN_SHAPE.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits:letters); "
            "copy it again from @BotFather"
        )
    key_text = _required(
        env, "SECRETS_KEY", "generate one with `python -m bot genkey` and put it in .env"
    )
    try:
        secrets_key = decode_key(key_text)
    except SecretsKeyError as exc:
        raise ConfigError(
            f"SECRETS_KEY is malformed ({exc}); generate one with `python -m bot genkey`"
        ) from None

    issuer = env.get("TOTP_ISSUER", "").strip() or "2FA Desk"
    if ":" in issuer or len(issuer) > 64:
        raise ConfigError("TOTP_ISSUER must be at most 64 characters and contain no ':'")

    api_host = env.get("API_HOST", "").strip() or "127.0.0.1"
    api_port = _port(env, "API_PORT", 8080)

    level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")

    base_url = _base_url(env, "TELEGRAM_BASE_URL", DEFAULT_BASE_URL, "/bot")
    webhook_url = _webhook_url(env, base_url)
    webhook_host = env.get("WEBHOOK_HOST", "").strip() or "127.0.0.1"
    webhook_port = _port(env, "WEBHOOK_PORT", DEFAULT_WEBHOOK_PORT)
    api_token = _api_token(env)
    if (
        webhook_url
        and api_token
        and webhook_port == api_port
        and _same_address(webhook_host, api_host)
    ):
        raise ConfigError(
            f"WEBHOOK_PORT and API_PORT are both {api_port} on one address; "
            "give the webhook a port of its own"
        )

    deactivation_default = _duration(env, "DEACTIVATION_HOURS", 24, "hours", 24 * 30)
    deactivation_max = _duration(env, "DEACTIVATION_MAX_HOURS", 72, "hours", 24 * 30)
    if deactivation_default > deactivation_max:
        raise ConfigError("DEACTIVATION_HOURS must not exceed DEACTIVATION_MAX_HOURS")

    return Settings(
        telegram_bot_token=token,
        secrets_key=secrets_key,
        secrets_keys_previous=_previous_keys(env),
        telegram_base_url=base_url,
        telegram_base_file_url=_base_url(
            env, "TELEGRAM_BASE_FILE_URL", DEFAULT_BASE_FILE_URL, "/file/bot"
        ),
        database_url=database_url(env),
        totp_issuer=issuer,
        support_chat_id=_chat_id(env, "SUPPORT_CHAT_ID"),
        ops_chat_id=_chat_id(env, "OPS_CHAT_ID"),
        admin_user_ids=_id_list(env, "ADMIN_USER_IDS"),
        support_agent_ids=_id_list(env, "SUPPORT_AGENT_IDS"),
        api_host=api_host,
        api_port=api_port,
        api_token=api_token,
        api_rate_limit=_rate(
            env, "API_RATE_LIMIT", DEFAULT_RATE_LIMIT, "requests per API client and process"
        ),
        api_auth_failure_limit=_rate(
            env,
            "API_AUTH_FAILURE_LIMIT",
            DEFAULT_AUTH_FAILURE_LIMIT,
            "failed authentications per address and process",
        ),
        log_level=level,
        qr_render_processes=1 if (os.cpu_count() or 1) > 1 else 0,
        deactivation_default=deactivation_default,
        deactivation_max=deactivation_max,
        request_ttl=_duration(env, "REQUEST_EXPIRY_HOURS", 48, "hours", 24 * 30),
        request_sla=_duration(env, "REQUEST_SLA_MINUTES", 30, "minutes", 24 * 60 * 7),
        enrollment_link_ttl=_duration(env, "ENROLLMENT_LINK_MINUTES", 60, "minutes", 24 * 60 * 7),
        retention=_duration(env, "RETENTION_DAYS", 90, "days", 3650),
        timezone=_timezone(env),
        support_language=_language(env, "SUPPORT_LANGUAGE"),
        ops_language=_language(env, "OPS_LANGUAGE"),
        log_format=_log_format(env),
        telegram_bot_username=_bot_username(env),
        webhook_url=webhook_url,
        webhook_secret=_webhook_secret(env, token) if webhook_url else None,
        webhook_host=webhook_host,
        webhook_port=webhook_port,
        push_approval=_push_approval(env),
        challenge_ttl=_challenge_seconds(env),
    )
