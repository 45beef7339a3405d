"""Logging: one line per event (text or JSON), every line redacted, and the libraries that
would print secrets kept quiet."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from core.redaction import redact

# httpx logs every request URL at INFO, and a Bot API URL holds the bot token;
# python-telegram-bot logs whole API calls and answers at DEBUG, and those hold the
# codes users type. Neither may go below INFO, whatever LOG_LEVEL says.
_QUIET_BELOW_WARNING = ("httpx", "httpcore", "apscheduler")
_QUIET_BELOW_INFO = ("telegram", "aiohttp")
QUIETED_LOGGERS = _QUIET_BELOW_WARNING + _QUIET_BELOW_INFO  # the levels configure_logging sets


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes codes, secrets and tokens; one line per record."""

    def __init__(self, secrets: Iterable[str] = (), *, as_json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secrets = tuple(secrets)
        self._json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if not self._json:
            text = redact(super().format(record), self._secrets)
            return text.replace("\n", "\n    ")  # a traceback stays visibly one event
        # Each value is redacted before it is put into JSON: a redacted value then ends
        # where the value ends, and the line stays one valid JSON object.
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage(), self._secrets),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info), self._secrets)
        return json.dumps(entry, ensure_ascii=False)


class CancelledJobFilter(logging.Filter):
    """A job the scheduler cancels while the bot stops (a deposed bot stops at once) is
    not an error: one INFO line instead of APScheduler's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            message = record.getMessage()
            record.msg, record.args = "%s (cancelled while the bot stopped)", (message,)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


def configure_logging(level: str, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets, as_json=fmt == "json"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    for name in _QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric))
    for name in _QUIET_BELOW_INFO:
        logging.getLogger(name).setLevel(max(logging.INFO, numeric))
    logging.getLogger("apscheduler.executors.default").addFilter(CancelledJobFilter())
