"""Logging: one line per event; libraries that would print secrets are kept quiet."""

from __future__ import annotations

import logging

# httpx logs every request URL at INFO, and a Bot API URL holds the bot token;
# python-telegram-bot logs whole API calls and answers at DEBUG, and those hold the
# codes users type. Neither may go below INFO, whatever LOG_LEVEL says.
_QUIET_BELOW_WARNING = ("httpx", "httpcore", "apscheduler")
_QUIET_BELOW_INFO = ("telegram", "aiohttp")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    numeric = logging.getLevelName(level)
    for name in _QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric))
    for name in _QUIET_BELOW_INFO:
        logging.getLogger(name).setLevel(max(logging.INFO, numeric))
