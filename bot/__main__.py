"""``python -m bot``: the bot, the API alone, and the operator's commands.

    python -m bot                          the bot (on PostgreSQL: active or standby)
    python -m bot api [--workers N]        the HTTP API alone (PostgreSQL)
    python -m bot copy-database --to URL   copy the SQLite database into PostgreSQL
    python -m bot backup FILE [--force]    a consistent copy of the SQLite database, online
    python -m bot after-restore            after restoring a backup, before the bot starts
    python -m bot rotate-key               re-seal every secret under SECRETS_KEY (online)
    python -m bot check-key                open every sealed secret, name those that do not
    python -m bot audit verify             walk the audit log's chain, name the first break
    python -m bot audit export --since DAY the chained audit rows as JSON lines (a SIEM)
    python -m bot clients add NAME --scopes verify,...   an API client; prints its token once
    python -m bot clients list | revoke NAME            the API clients (never their tokens)
    python -m bot webhooks add NAME URL    signed webhooks for the login system and the SIEM
        [--events T,...] [--allow-private]   (also: list, remove NAME, rotate-secret NAME)
    python -m bot genkey                   a fresh SECRETS_KEY

Every mistake the operator can fix ends in one line on standard error, ``error: ...``,
and exit status 2; a failure at run time (database, network) in one line and 1.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
from dotenv import load_dotenv
from telegram.error import InvalidToken, NetworkError

from bot.commands import auditing, backup, clients, copying, keys, restore, webhooks
from bot.commands.parsing import OneLineParser
from core.config import ConfigError, Settings, database_password, load_settings
from core.crypto import generate_key
from storage.db import DatabaseUnavailableError, redact_url

MAX_WORKERS = 64


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"--workers must be a whole number from 1 to {MAX_WORKERS}, got {text!r}"
        )
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m bot",
        description="2FA Desk. Without a command: the bot (Telegram, jobs, and the HTTP API "
        "when API_TOKEN is set). Settings come from the environment and .env.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    api = commands.add_parser(
        "api",
        help="the HTTP API alone, stateless (needs PostgreSQL)",
        description="Serve the HTTP API alone: no Telegram polling, no jobs. Needs "
        "PostgreSQL and API_TOKEN. Any number may run behind a load balancer.",
    )
    api.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="processes on this host, all on API_PORT (SO_REUSEPORT); default 1",
    )
    copying.add_parser(commands)
    backup.add_parser(commands)
    restore.add_parser(commands)
    keys.add_parser(commands)
    auditing.add_parser(commands)
    clients.add_parser(commands)
    webhooks.add_parser(commands)
    commands.add_parser("genkey", help="print a fresh value for SECRETS_KEY")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "genkey":
        print(generate_key())
        return 0

    load_dotenv(Path.cwd() / ".env", override=False)
    # python-telegram-bot 22: durations such as RetryAfter.retry_after as timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    if args.command == "copy-database":
        return _reporting_errors(lambda: copying.copy_database(os.environ, args.to), None)
    if args.command == "backup":
        return _reporting_errors(
            lambda: backup.backup_command(os.environ, args.file, force=args.force), None
        )
    if args.command == "clients":
        if args.clients_command == "add":
            return _reporting_errors(
                lambda: clients.add_command(os.environ, args.name, args.scopes), None
            )
        if args.clients_command == "list":
            return _reporting_errors(lambda: clients.list_command(os.environ), None)
        return _reporting_errors(lambda: clients.revoke_command(os.environ, args.name), None)
    if args.command == "after-restore":
        return _reporting_errors(lambda: restore.after_restore_command(os.environ), None)

    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        return _fail(str(exc), 2)

    from bot.logs import configure_logging

    configure_logging(
        settings.log_level,
        settings.log_format,
        secrets=[
            settings.telegram_bot_token,
            settings.api_token or "",
            settings.webhook_secret or "",
            database_password(settings.database_url) or "",
        ],
    )
    if args.command == "rotate-key":
        return _reporting_errors(
            lambda: keys.rotate_key_command(settings, batch_rows=args.batch), settings
        )
    if args.command == "check-key":
        return _reporting_errors(lambda: keys.check_key_command(settings), settings)
    if args.command == "audit":
        if args.audit_command == "verify":
            return _reporting_errors(lambda: auditing.verify_command(settings, args.head), settings)
        return _reporting_errors(
            lambda: auditing.export_command(settings, args.since, args.account, args.output),
            settings,
        )
    if args.command == "webhooks":
        return _reporting_errors(lambda: webhooks.webhooks_command(settings, args), settings)
    if args.command == "api":
        if args.workers > 1:
            from bot.workers import run_workers

            return _reporting_errors(lambda: run_workers(settings, args.workers), settings)
        from bot.roles import run_api

        return _reporting_errors(lambda: run_api(settings), settings)

    from bot.roles import run_bot

    return _reporting_errors(lambda: run_bot(settings), settings)


def _reporting_errors(run: Callable[[], int], settings: Settings | None) -> int:
    """Run a command; what stops it is said in one line."""
    try:
        return run()
    except ConfigError as exc:
        return _fail(str(exc), 2)
    except InvalidToken:
        return _fail("the Bot API refused TELEGRAM_BOT_TOKEN; check it with @BotFather", 2)
    except NetworkError as exc:
        where = settings.telegram_base_url if settings else "Telegram"
        return _fail(f"cannot reach the Bot API at {where}: {exc}", 1)
    except DatabaseUnavailableError as exc:  # its message names the server already
        return _fail(_first_line(exc), 1)
    except (OSError, sqlite3.Error, psycopg.Error) as exc:
        database = redact_url(settings.database_url) if settings else "the database"
        return _fail(f"cannot open the database {database}: {_first_line(exc)}", 1)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
