"""``python -m bot`` runs the bot; ``python -m bot genkey`` prints a fresh SECRETS_KEY."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from dotenv import load_dotenv
from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.config import ConfigError, load_settings
from bot.crypto import generate_key

USAGE = "usage: python -m bot [genkey]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["genkey"]:
        print(generate_key())
        return 0
    if args:
        print(USAGE, file=sys.stderr)
        return 0 if args[0] in ("-h", "--help") else 2

    load_dotenv(Path.cwd() / ".env", override=False)
    # python-telegram-bot 22: durations such as RetryAfter.retry_after as timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from bot.app import build_application
    from bot.logs import configure_logging

    configure_logging(
        settings.log_level,
        settings.log_format,
        secrets=[settings.telegram_bot_token, settings.api_token or ""],
    )
    app = build_application(settings)
    try:
        app.run_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except InvalidToken:
        print(
            "error: the Bot API refused TELEGRAM_BOT_TOKEN; check it with @BotFather",
            file=sys.stderr,
        )
        return 2
    except NetworkError as exc:
        print(
            f"error: cannot reach the Bot API at {settings.telegram_base_url}: {exc}",
            file=sys.stderr,
        )
        return 1
    except (OSError, sqlite3.Error) as exc:
        print(f"error: cannot open the database {settings.database_url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
