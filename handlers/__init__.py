"""Thin Telegram adapters: parse an update, call the core, render the answer."""

from __future__ import annotations

from telegram.ext import Application

from handlers import check, enrolment, links, start


def register_all(app: Application) -> None:
    """Every flow's handlers, in the order they should see an update."""
    start.register(app)
    enrolment.register(app)
    check.register(app)
    links.register(app)
    start.register_fallbacks(app)
