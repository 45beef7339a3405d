"""Thin Telegram adapters: parse an update, call the core, render the answer."""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    admin,
    challenges,
    check,
    conversation,
    devices,
    enrolment,
    language,
    links,
    lost,
    ops,
    recovery_codes,
    start,
    support,
)

# Every flow that waits for a typed answer: a private message goes to the step of the one
# in the user's slot (``conversation.Flows``), in that flow's table.
FLOWS = (
    enrolment.FLOW,
    check.FLOW,
    devices.RENAME,
    devices.REMOVE,
    devices.NEW_CODES,
    lost.LOST,
    lost.RECOVER,
    links.LINK,
    links.UNLINK,
    support.DENY,
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
    recovery_codes.register(app)
    conversation.register(app, FLOWS)
    challenges.register(app)
    support.register(app, support_chat_id)
    admin.register(app)
    ops.register(app)
    start.register_fallbacks(app)
