"""``python -m bot clients add|list|revoke``: the HTTP API's clients (core/clients.py).

``add NAME --scopes verify,...`` prints the new token on standard output, alone on its
line (``TOKEN=$(python -m bot clients add vpn --scopes verify)`` works), once: only its
hash is stored. ``list`` shows each client's name, scopes, when it was added and last
used, never a token. ``revoke NAME`` takes effect at once in every API process.

Needs DATABASE_URL only (no bot token, no SECRETS_KEY). Bad input is one line on
standard error and exit status 2, with nothing changed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

from bot.commands.parsing import OneLineParser, Subcommands
from core.clients import (
    API_TOKEN_CLIENT,
    ClientError,
    ClientRegistry,
    Scope,
    check_name,
    parse_scopes,
    scopes_text,
)
from core.clock import SystemClock
from core.config import database_url, existing_sqlite_path, is_postgresql_url
from storage.db import open_database

T = TypeVar("T")
EXIT_BAD_INPUT = 2


def client_name(text: str) -> str:
    """NAME (argparse type)."""
    try:
        return check_name(text)
    except ClientError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scopes(text: str) -> frozenset[Scope]:
    """``--scopes verify,accounts`` (argparse type)."""
    try:
        return parse_scopes(text)
    except ClientError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_command(env: Mapping[str, str], name: str, wanted: frozenset[Scope]) -> int:
    try:
        added = _run(env, lambda clients: clients.add(name, wanted))
    except ClientError as exc:
        return _refused(exc)
    print(added.token, flush=True)
    print(
        f"added client {name} with the scopes {scopes_text(wanted)}. The token above is "
        "shown this once (only its hash is stored): give it to the client now.",
        file=sys.stderr,
    )
    return 0


def list_command(env: Mapping[str, str]) -> int:
    found = _run(env, lambda clients: clients.clients())
    rows = [
        (c.name, scopes_text(c.scopes), _when(c.created_at), _when(c.last_used_at) or "never")
        for c in found
    ]
    if env.get("API_TOKEN", "").strip():
        rows.append((API_TOKEN_CLIENT, "every scope", "(the API_TOKEN setting)", ""))
    if not rows:
        print("no API clients; add one with: python -m bot clients add NAME --scopes ...")
        return 0
    table = [("name", "scopes", "created", "last used"), *rows]
    widths = [max(len(row[column]) for row in table) for column in range(4)]
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def revoke_command(env: Mapping[str, str], name: str) -> int:
    try:
        _run(env, lambda clients: clients.revoke(name))
    except ClientError as exc:
        return _refused(exc)
    print(f"revoked client {name}: every API process refuses its token from now on")
    return 0


def _run(env: Mapping[str, str], work: Callable[[ClientRegistry], Awaitable[T]]) -> T:
    """``work`` on the clients of DATABASE_URL."""

    async def run() -> T:
        async with _registry(env) as clients:
            return await work(clients)

    return asyncio.run(run())


def _refused(exc: ClientError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


@asynccontextmanager
async def _registry(env: Mapping[str, str]) -> AsyncIterator[ClientRegistry]:
    url = database_url(env)
    if not is_postgresql_url(url):
        # A typo in DATABASE_URL or the wrong folder would otherwise create an empty
        # database, and a client in it that no API process ever sees.
        existing_sqlite_path(url, " (start the bot once, or run this where its .env is)")
    db = await open_database(url)
    try:
        yield ClientRegistry(db, SystemClock())
    finally:
        await db.close()


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------ the arguments


def add_parser(commands: Subcommands) -> None:
    """``clients add NAME --scopes ...``, ``clients list``, ``clients revoke NAME``."""
    clients = commands.add_parser(
        "clients",
        help="add, list or revoke the HTTP API's clients (each its own token and scopes)",
        description="Each login system gets a client of its own: a name, a token shown "
        "once, and scopes (verify, challenges, accounts, links, metrics). A revoked token "
        "is refused by every API process from the next request on. Needs DATABASE_URL.",
    )
    actions = clients.add_subparsers(
        dest="clients_command", metavar="ACTION", parser_class=OneLineParser, required=True
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
