"""How each environment variable is read and checked: one function per kind of value,
each raising ``ConfigError`` with one line that names the variable and says how to fix it
(never quoting a secret). ``core/config.py`` puts them together into the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import re
import urllib.parse
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.clients import rate_limit
from core.crypto import SecretsKeyError, decode_key
from core.languages import LANGUAGES
from storage.db import POSTGRESQL_PREFIXES, DatabaseUrlError, sqlite_path

DEFAULT_DATABASE_URL = "sqlite:///data/twofa.sqlite3"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_BASE_FILE_URL = "https://api.telegram.org/file/bot"
DEFAULT_ISSUER = "2FA Desk"
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
MIN_API_TOKEN_LENGTH = 32
# Telegram's rules: 5 to 32 characters, letters, digits and underscores, ending in "bot".
_BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,29}[Bb][Oo][Tt]$")
# Telegram's rule for setWebhook's secret_token; ours: as long as API_TOKEN, since the
# secret is all that tells Telegram's posts from anyone's.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MIN_WEBHOOK_SECRET_LENGTH = MIN_API_TOKEN_LENGTH
# A key as `python -m bot genkey` prints it: 32 bytes in URL-safe base64 (the padding
# optional).
_ONE_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=?$")
PUSH_APPROVAL_MODES = ("number_match", "off")
DEFAULT_CHALLENGE_SECONDS = 60
CHALLENGE_SECONDS_RANGE = (10, 600)


class ConfigError(Exception):
    """A configuration problem, worded for the person starting the bot."""


def bot_token(env: Mapping[str, str]) -> str:
    token = required(env, "TELEGRAM_BOT_TOKEN", "put the token from @BotFather in .env")
    if not _TOKEN_SHAPE.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits:letters); "
            "copy it again from @BotFather"
        )
    return token


def secrets_key(env: Mapping[str, str]) -> bytes:
    key_text = required(
        env, "SECRETS_KEY", "generate one with `python -m bot genkey` and put it in .env"
    )
    try:
        return decode_key(key_text)
    except SecretsKeyError as exc:
        raise ConfigError(
            f"SECRETS_KEY is malformed ({exc}); generate one with `python -m bot genkey`"
        ) from None


def totp_issuer(env: Mapping[str, str]) -> str:
    issuer = env.get("TOTP_ISSUER", "").strip() or DEFAULT_ISSUER
    if ":" in issuer or len(issuer) > 64:
        raise ConfigError("TOTP_ISSUER must be at most 64 characters and contain no ':'")
    return issuer


def log_level(env: Mapping[str, str]) -> str:
    level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return level


def is_postgresql_url(url: str) -> bool:
    return url.startswith(POSTGRESQL_PREFIXES)  # storage.db.backend_of, without raising


def required(env: Mapping[str, str], name: str, how: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {how}")
    return value


def chat_id(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a numeric Telegram chat id (e.g. -1001234567890), got {value!r}"
        ) from None


def id_list(env: Mapping[str, str], name: str) -> frozenset[int]:
    value = env.get(name, "").strip()
    if not value:
        return frozenset()
    try:
        return frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be comma-separated numeric Telegram user ids, got {value!r}"
        ) from None


def base_url(env: Mapping[str, str], name: str, default: str, suffix: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")) or not value.endswith(suffix):
        raise ConfigError(f"{name} must be an http(s) URL ending in {suffix!r}, got {value!r}")
    return value


def duration(env: Mapping[str, str], name: str, default: int, unit: str, most: int) -> timedelta:
    """A whole number of ``unit`` ("hours", "days", "minutes") from 1 to ``most``."""
    value = env.get(name, "").strip() or str(default)
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise ConfigError(
            f"{name} must be a whole number of {unit} from 1 to {most}, got {value!r}"
        )
    return timedelta(**{unit: int(value)})


def api_token(env: Mapping[str, str]) -> str | None:
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


def rate(env: Mapping[str, str], name: str, default: str, what: str) -> str:
    value = env.get(name, "").strip() or default
    try:
        rate_limit(value)
    except ValueError as exc:
        raise ConfigError(f"{name} ({what}) {exc}") from None
    return value


def previous_keys(env: Mapping[str, str]) -> tuple[bytes, ...]:
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


def timezone(env: Mapping[str, str]) -> str:
    value = env.get("TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIMEZONE must be an IANA time zone name such as Europe/Berlin or UTC, got {value!r}"
        ) from None
    return value


def language(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip().lower() or "en"
    if value not in LANGUAGES:
        raise ConfigError(f"{name} must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


def port(env: Mapping[str, str], name: str, default: int) -> int:
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


def bot_username(env: Mapping[str, str]) -> str | None:
    value = env.get("TELEGRAM_BOT_USERNAME", "").strip().removeprefix("@")
    if not value:
        return None
    if not _BOT_USERNAME.match(value):
        raise ConfigError(
            "TELEGRAM_BOT_USERNAME must be the bot's username as @BotFather shows it "
            f"(5 to 32 letters, digits or _, ending in bot), got {value!r}"
        )
    return value


def webhook_url(env: Mapping[str, str], base_url: str) -> str | None:
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


def webhook_secret(env: Mapping[str, str], token: str) -> str:
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


def same_address(host_a: str, host_b: str) -> bool:
    """Whether two listen addresses overlap (a wildcard overlaps every address)."""
    wildcard = {"", "0.0.0.0", "::"}  # noqa: S104 - compared, never bound
    if host_a in wildcard or host_b in wildcard:
        return True
    try:
        return ipaddress.ip_address(host_a) == ipaddress.ip_address(host_b)
    except ValueError:
        return host_a == host_b


def log_format(env: Mapping[str, str]) -> str:
    value = (env.get("LOG_FORMAT", "").strip() or "text").lower()
    if value not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, got {value!r}")
    return value


def push_approval(env: Mapping[str, str]) -> bool:
    value = env.get("PUSH_APPROVAL", "").strip().lower() or PUSH_APPROVAL_MODES[0]
    if value not in PUSH_APPROVAL_MODES:
        raise ConfigError(
            f"PUSH_APPROVAL must be one of {', '.join(PUSH_APPROVAL_MODES)}, got {value!r}"
        )
    return value != "off"


def challenge_seconds(env: Mapping[str, str]) -> timedelta:
    value = env.get("CHALLENGE_SECONDS", "").strip() or str(DEFAULT_CHALLENGE_SECONDS)
    least, most = CHALLENGE_SECONDS_RANGE
    if not value.isdigit() or not least <= int(value) <= most:
        raise ConfigError(
            f"CHALLENGE_SECONDS must be a whole number of seconds from {least} to {most}, "
            f"got {value!r}"
        )
    return timedelta(seconds=int(value))
