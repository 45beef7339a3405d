"""Thin Telegram adapters: parse an update, call the core, render the answer."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    admin,
    challenges,
    check,
    cleanup,
    conversation,
    devices,
    enrolment,
    language,
    links,
    lost,
    ops,
    start,
    support,
)


def register_all(app: Application, support_chat_id: int | None) -> None:
    """Every flow's handlers, in the order they should see an update."""
    language.register(app)
    start.register(app)
    enrolment.register(app)
    check.register(app)
    links.register(app)
    lost.register(app)
    devices.register(app)
    cleanup.register(app)
    conversation.register(app)
    challenges.register(app)
    support.register(app, support_chat_id)
    admin.register(app)
    ops.register(app)
    start.register_fallbacks(app)
