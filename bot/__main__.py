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
from typing import NoReturn

import psycopg
from dotenv import load_dotenv
from telegram.error import InvalidToken, NetworkError

from bot.commands.auditing import day, posted_head
from bot.commands.webhooks import EVENT_TYPES
from bot.commands.webhooks import event_types as webhook_event_types
from core.config import ConfigError, Settings, database_password, load_settings
from core.crypto import generate_key
from core.keys import BATCH_ROWS
from storage.db import DatabaseUnavailableError, redact_url

MAX_WORKERS = 64
MAX_BATCH = 10_000


class _Parser(argparse.ArgumentParser):
    """argparse, with its complaints in one line like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see python -m bot --help)\n")


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"--workers must be a whole number from 1 to {MAX_WORKERS}, got {text!r}"
        )
    return int(text)


def _batch(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_BATCH:
        raise argparse.ArgumentTypeError(
            f"--batch must be a whole number from 1 to {MAX_BATCH}, got {text!r}"
        )
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bot",
        description="2FA Desk. Without a command: the bot (Telegram, jobs, and the HTTP API "
        "when API_TOKEN is set). Settings come from the environment and .env.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
    copy = commands.add_parser(
        "copy-database",
        help="copy the SQLite database (DATABASE_URL) into an empty PostgreSQL database",
        description="Copy everything in the SQLite database named by DATABASE_URL (sealed "
        "secrets, audit log and all) into an empty PostgreSQL database, then compare the "
        "row counts. Stop the bot first.",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://...")
    _backup_parsers(commands)
    rotate = commands.add_parser(
        "rotate-key",
        help="re-seal every sealed secret under SECRETS_KEY (online, resumable)",
        description="Re-seal every value sealed under a key in SECRETS_KEYS_PREVIOUS (or "
        "from before key ids) under SECRETS_KEY, in small transactions while the bot and "
        "the API keep serving; then say what each key still holds. Interrupted, run it "
        "again: it continues with what is not under SECRETS_KEY yet.",
    )
    rotate.add_argument(
        "--batch",
        type=_batch,
        default=BATCH_ROWS,
        metavar="N",
        help=f"values per transaction; default {BATCH_ROWS}",
    )
    commands.add_parser(
        "check-key",
        help="open every sealed secret; exit 1 if any does not open",
        description="Open every sealed value with the configured keys and report, per key "
        "id, how many open and which (account and device) do not. Exit status 0 only when "
        "all open.",
    )
    _audit_parser(commands)
    _clients_parser(commands)
    _webhooks_parser(commands)
    commands.add_parser("genkey", help="print a fresh value for SECRETS_KEY")
    return parser


def _audit_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    audit = commands.add_parser(
        "audit",
        help="verify or export the tamper-evident audit log",
        description="The audit log is chained (keyed hashes, the head posted to the ops "
        "chat daily): verify the chain, or export it for a SIEM.",
    )
    actions = audit.add_subparsers(
        dest="audit_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    verify = actions.add_parser(
        "verify",
        help="walk the chain; name the first broken row (exit 1) or say it holds (exit 0)",
        description="Walk the audit log's chain and name the first row where it breaks "
        "(changed, missing, inserted, or under a key that is not configured).",
    )
    verify.add_argument(
        "--head",
        type=posted_head,
        metavar="SEQ:MAC",
        help="a head from an audit_head post in the ops chat: also check that the row at "
        "SEQ still carries this MAC (a rewritten chain does not)",
    )
    export = actions.add_parser(
        "export",
        help="the chained rows written since a day, as JSON lines with their hashes",
        description="Write the chained audit rows written since DATE as JSON lines: every "
        "column, the row's place (seq), key id, link (mac) and the link before it "
        "(prev_mac), in chain order.",
    )
    export.add_argument("--since", required=True, type=day, metavar="DATE", help="YYYY-MM-DD, UTC")
    export.add_argument("--account", metavar="ID", help="only this account's rows")
    export.add_argument(
        "--output", type=Path, metavar="FILE", help="write here (mode 0600), not to stdout"
    )


def _clients_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    from bot.commands.clients import client_name, scopes

    clients = commands.add_parser(
        "clients",
        help="add, list or revoke the HTTP API's clients (each its own token and scopes)",
        description="Each login system gets a client of its own: a name, a token shown "
        "once, and scopes (verify, challenges, accounts, links, metrics). A revoked token "
        "is refused by every API process from the next request on. Needs DATABASE_URL.",
    )
    actions = clients.add_subparsers(
        dest="clients_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    add = actions.add_parser(
        "add",
        help="add a client and print its token (once)",
        description="Add a client and print its token on standard output, once: only its "
        "hash is stored.",
    )
    add.add_argument("name", type=client_name, metavar="NAME", help="e.g. vpn, portal")
    add.add_argument(
        "--scopes",
        type=scopes,
        required=True,
        metavar="SCOPE,...",
        help="comma-separated: verify (POST /v1/verify, RADIUS), challenges, accounts "
        "(GET /v1/accounts/...), links (POST /v1/enrollment-links), metrics (GET /metrics)",
    )
    actions.add_parser("list", help="name, scopes, created and last used of each client")
    revoke = actions.add_parser("revoke", help="refuse a client's token from now on")
    revoke.add_argument("name", metavar="NAME")


def _webhooks_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    webhooks = commands.add_parser(
        "webhooks",
        help="signed webhooks for the login system and the SIEM: add, list, remove, rotate-secret",
        description="Endpoints that receive the account events (Standard Webhooks: "
        "webhook-id, webhook-timestamp, webhook-signature) as they happen.",
    )
    actions = webhooks.add_subparsers(
        dest="webhooks_command", metavar="ACTION", parser_class=_Parser, required=True
    )
    add = actions.add_parser(
        "add",
        help="register an endpoint; prints its signing secret (whsec_...) once",
        description="Register an endpoint. Only http(s) URLs without credentials; a "
        "loopback, link-local or private address needs --allow-private. Known event types: "
        + ", ".join(EVENT_TYPES),
    )
    add.add_argument("name", help="1 to 40 letters, digits, '.', '_' or '-'")
    add.add_argument("url", help="https://... (the receiver)")
    add.add_argument(
        "--events",
        type=webhook_event_types,
        default=(),
        metavar="TYPE,...",
        help="only these event types (default: all)",
    )
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="allow a loopback, link-local or private address (an internal receiver)",
    )
    actions.add_parser("list", help="each endpoint: URL, events, last delivery, failing since")
    remove = actions.add_parser("remove", help="remove an endpoint (its waiting events go too)")
    remove.add_argument("name")
    rotate = actions.add_parser(
        "rotate-secret",
        help="a new signing secret; the old one signs beside it for a day",
    )
    rotate.add_argument("name")


def _backup_parsers(commands: argparse._SubParsersAction[_Parser]) -> None:
    backup = commands.add_parser(
        "backup",
        help="a consistent copy of the SQLite database (DATABASE_URL), while the bot runs",
        description="Copy the SQLite database named by DATABASE_URL to FILE (mode 0600) with "
        "SQLite's online backup API while the bot keeps running, then check the copy "
        "(integrity, migration) and print its size and row counts. On PostgreSQL: pg_dump.",
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="where the copy goes")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    commands.add_parser(
        "after-restore",
        help="run once after restoring a backup, before starting the bot",
        description="Make a database restored from a backup safe to start: codes from "
        "before now count as used, unused enrolment links, set-ups, conversations and "
        "grants end, unused recovery codes are voided and the users told to get new ones. "
        "Stop every bot first.",
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "genkey":
        print(generate_key())
        return 0

    load_dotenv(Path.cwd() / ".env", override=False)
    # python-telegram-bot 22: durations such as RetryAfter.retry_after as timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    if args.command == "copy-database":
        from bot.commands.copying import copy_database

        return _reporting_errors(lambda: copy_database(os.environ, args.to), None)
    if args.command == "backup":
        from bot.commands.backup import backup_command

        return _reporting_errors(
            lambda: backup_command(os.environ, args.file, force=args.force), None
        )
    if args.command == "clients":
        from bot.commands import clients

        if args.clients_command == "add":
            return _reporting_errors(
                lambda: clients.add_command(os.environ, args.name, args.scopes), None
            )
        if args.clients_command == "list":
            return _reporting_errors(lambda: clients.list_command(os.environ), None)
        return _reporting_errors(lambda: clients.revoke_command(os.environ, args.name), None)
    if args.command == "after-restore":
        from bot.commands.restore import after_restore_command

        return _reporting_errors(lambda: after_restore_command(os.environ), None)

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
        from bot.commands.keys import rotate_key_command

        return _reporting_errors(
            lambda: rotate_key_command(settings, batch_rows=args.batch), settings
        )
    if args.command == "check-key":
        from bot.commands.keys import check_key_command

        return _reporting_errors(lambda: check_key_command(settings), settings)
    if args.command == "audit":
        from bot.commands.auditing import export_command, verify_command

        if args.audit_command == "verify":
            return _reporting_errors(lambda: verify_command(settings, args.head), settings)
        return _reporting_errors(
            lambda: export_command(settings, args.since, args.account, args.output), settings
        )
    if args.command == "webhooks":
        from bot.commands.webhooks import webhooks_command

        return _reporting_errors(lambda: webhooks_command(settings, args), settings)
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
