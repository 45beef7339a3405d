"""``python -m bot webhooks add|list|enable|remove|rotate-secret``: the operator's side of the
signed webhooks (core/webhooks.py does the work; this parses and prints).

The endpoints live in the database, so every process (the active bot that delivers, a
standby that takes over) sees the same set at once. A refusal (a bad URL, a duplicate
name, an unknown event type, a private address without ``--allow-private``, an unknown
name) is one line and exit status 2, and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from bot.commands.parsing import OneLineParser, Subcommands
from core.clock import SystemClock
from core.config import ConfigError, Settings
from core.events import EVENT_TYPES as EVENT_TYPES
from core.restore import format_utc
from core.webhooks import SECRET_OVERLAP, WebhookError, WebhookService
from storage.db import open_database
from storage.records import WebhookEndpoint

T = TypeVar("T")


def event_types(text: str) -> tuple[str, ...]:
    """``--events type,...`` (argparse type)."""
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    if not types:
        raise argparse.ArgumentTypeError("--events needs at least one event type")
    return types


def webhooks_command(settings: Settings, args: argparse.Namespace) -> int:
    action: str = args.webhooks_command
    try:
        if action == "add":
            secret = _run(
                settings,
                lambda s: s.add(args.name, args.url, args.events, allow_private=args.allow_private),
            )
            print(f"webhook {args.name} added; its signing secret (shown only now):")
            print(secret)
            return 0
        if action == "enable":
            enabled = _run(settings, lambda s: s.enable(args.name))
            if not enabled.was_disabled:
                print(f"webhook {args.name} is enabled already; nothing changed")
            else:
                print(
                    f"webhook {args.name} enabled; its {enabled.waiting} waiting events are "
                    "sent now, in order"
                )
            return 0
        if action == "remove":
            _run(settings, lambda s: s.remove(args.name))
            print(f"webhook {args.name} removed")
            return 0
        if action == "rotate-secret":
            secret = _run(settings, lambda s: s.rotate_secret(args.name))
            hours = int(SECRET_OVERLAP.total_seconds() // 3600)
            print(
                f"webhook {args.name}: new signing secret (shown only now); the old one "
                f"signs beside it for {hours} hours:"
            )
            print(secret)
            return 0
        for line in listing(_run(settings, lambda s: s.endpoints())):
            print(line)
        return 0
    except WebhookError as exc:
        raise ConfigError(str(exc)) from None


def listing(endpoints: list[WebhookEndpoint]) -> list[str]:
    if not endpoints:
        return ["no webhooks (python -m bot webhooks add NAME URL)"]
    lines = []
    for e in endpoints:
        state = (
            f"disabled since {_when(e.disabled_at)} ({e.disabled_reason}); its events are held"
            f" until: python -m bot webhooks enable {e.name}"
            if e.disabled_at
            else ""
        )
        lines.append(
            f"{e.name}  {e.url}\n"
            f"  events: {', '.join(e.event_types) or 'all'}"
            f"{'  (private addresses allowed)' if e.allow_private else ''}\n"
            f"  last delivery: {_when(e.last_delivery_at)}"
            f"  failing since: {_when(e.failing_since)}" + (f"\n  {state}" if state else "")
        )
    return lines


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else format_utc(moment)


def _run(settings: Settings, work: Callable[[WebhookService], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database(settings.database_url)
        try:
            return await work(WebhookService(db, settings.keyring(), SystemClock()))
        finally:
            await db.close()

    return asyncio.run(run())


# ------------------------------------------------------------------ the arguments


def add_parser(commands: Subcommands) -> None:
    """``webhooks add NAME URL``, ``list``, ``enable NAME``, ``remove NAME``,
    ``rotate-secret NAME``."""
    webhooks = commands.add_parser(
        "webhooks",
        help="signed webhooks for the login system and the SIEM: add, list, enable, remove, "
        "rotate-secret",
        description="Endpoints that receive the account events (Standard Webhooks: "
        "webhook-id, webhook-timestamp, webhook-signature) as they happen.",
    )
    actions = webhooks.add_subparsers(
        dest="webhooks_command", metavar="ACTION", parser_class=OneLineParser, required=True
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
        type=event_types,
        default=(),
        metavar="TYPE,...",
        help="only these event types (default: all)",
    )
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="allow a loopback, link-local or private address (an internal receiver)",
    )
    actions.add_parser(
        "list",
        help="each endpoint: URL, events, last delivery, failing since, disabled and why",
    )
    enable = actions.add_parser(
        "enable",
        help="turn on an endpoint disabled by a 410; its held events are sent, in order",
    )
    enable.add_argument("name")
    remove = actions.add_parser("remove", help="remove an endpoint (its waiting events go too)")
    remove.add_argument("name")
    rotate = actions.add_parser(
        "rotate-secret",
        help="a new signing secret; the old one signs beside it for a day",
    )
    rotate.add_argument("name")
