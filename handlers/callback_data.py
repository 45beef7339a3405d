"""Buttons: callback data that is small, versioned, typed, and one table per module.

``v1:<action>:<ref>`` where ``ref`` is an id (lowercase letters, digits, dots).
Anything that does not parse is a forged or outdated button and is answered and ignored.

Data alone proves nothing: a Telegram client can send any data with a press on any bot
message it sees. So every press is also checked against where it happened
(``parse_press``): a user's button only in that user's private chat with the bot, on the
very message that shows it; a support button only in a group, where its handler checks
the chat and that the message is the request's own.

A handler module says once, beside its flow table, which action goes to which function
and where its buttons may be pressed; ``ButtonTable.handler()`` registers that table::

    BUTTONS = ButtonTable(
        Place.PRIVATE,
        {Action.SHOW_KEY: show_key, Action.COMPLETE: complete},
    )

    def register(app: Application) -> None:
        app.add_handler(BUTTONS.handler())

Each function is called as ``await show_key(update, context, press)`` only after the
press passed ``parse_press`` (so ``press.data.action`` is one of the table's) and must
answer ``press.query`` itself (``await press.query.answer()``, or with a text for a stale
or refused press). What the data refers to (``press.data.ref``: an enrolment, a request,
a challenge) is still the function's to look up and to check against ``press.user``.
To add buttons: an ``Action`` member (a new short value; never reuse an old one), the
buttons built with ``button(label, Action.X, ref)``, and an entry in the module's table.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler, ContextTypes

from handlers.texts import tr
from handlers.texts import user as texts

VERSION = "v1"
_REF = re.compile(r"^[0-9a-z.]{0,32}$")


class Action(StrEnum):
    ENROLL = "enroll"
    SHOW_KEY = "enr.key"
    COMPLETE = "enr.done"
    CANCEL_ENROLMENT = "enr.cancel"
    SWITCH_ACCOUNT = "link.yes"
    KEEP_ACCOUNT = "link.no"
    LOST = "lost"
    LOST_SEND = "lost.send"
    LOST_CANCEL = "lost.cancel"
    LOST_WITHDRAW = "lost.wd"
    APPROVE = "req.ap"
    APPROVE_FOR = "req.apd"  # ref: "<request id>.<hours>"
    DENY = "req.dn"
    DENY_NO_REASON = "req.dnx"
    BACK = "req.back"
    DEVICE_RENAME = "dev.rn"
    DEVICE_REMOVE = "dev.rm"
    DEVICE_REMOVE_LAST = "dev.rmy"
    DEVICE_KEEP = "dev.keep"
    DEVICE_REMOVE_RECOVERED = "dev.rmr"
    NEW_RECOVERY_CODES = "rec.new"
    LOST_USE_RECOVERY = "lost.rc"
    LOST_ASK_SUPPORT = "lost.ask"
    CONTINUE_FLOW = "conv.go"
    DROP_FLOW = "conv.drop"
    LANGUAGE = "lang"
    RECOVERY_SAVED = "rec.saved"  # the codes may leave the chat now
    MANAGER_REMOVE = "link.rm"  # ref: the Telegram user id to remove from the account


class Place(StrEnum):
    """Where a button may be pressed."""

    PRIVATE = "private"  # the presser's own private chat, on the message that shows it
    GROUP = "group"  # a group (the support chat: its handler checks which, and the message)


@dataclass(frozen=True)
class CallbackData:
    action: Action
    ref: str = ""

    def pack(self) -> str:
        return f"{VERSION}:{self.action.value}:{self.ref}"

    @classmethod
    def parse(cls, data: object) -> CallbackData | None:
        if not isinstance(data, str) or len(data) > 64:
            return None
        parts = data.split(":")
        if len(parts) != 3 or parts[0] != VERSION or not _REF.match(parts[2]):
            return None
        try:
            return cls(Action(parts[1]), parts[2])
        except ValueError:
            return None


def pattern(*actions: Action) -> str:
    """A CallbackQueryHandler pattern for these actions (the ref is checked by ``parse``)."""
    names = "|".join(re.escape(a.value) for a in actions)
    return rf"^{VERSION}:(?:{names}):"


_NUMBER = re.compile(r"[0-9]{1,12}")


def ref_number(ref: str) -> int | None:
    """A ref that must be a (request) number: ASCII digits, bounded; None otherwise."""
    return int(ref) if _NUMBER.fullmatch(ref) else None


def button(label: str, action: Action, ref: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=CallbackData(action, ref).pack())


async def parse_press(
    update: Update, stale_text: str, place: Place
) -> tuple[CallbackQuery, User, CallbackData] | None:
    """The press and its data. A press whose data does not parse, or that did not happen
    where its button can be (``place``, on a message of this bot), is answered and dropped."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return None
    data = CallbackData.parse(query.data)
    message = message_of(query)
    if data is None or message is None or not _pressed_where_sent(query, message, user, place):
        await query.answer(stale_text)
        return None
    return query, user, data


@dataclass(frozen=True)
class Press:
    """A press that passed ``parse_press``: the query to answer, who pressed, the data."""

    query: CallbackQuery
    user: User
    data: CallbackData


ButtonFunction = Callable[[Update, ContextTypes.DEFAULT_TYPE, Press], Awaitable[None]]


@dataclass(frozen=True)
class ButtonTable:
    """A module's buttons: where they may be pressed, and which function each action calls."""

    place: Place
    actions: Mapping[Action, ButtonFunction]

    def handler(self) -> CallbackQueryHandler[Any, Any]:
        """One handler for the table: the press is checked (``parse_press``), then the
        action's function is called with it."""
        return CallbackQueryHandler(self.on_press, pattern=pattern(*self.actions))

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        press = await parse_press(update, tr(texts.STALE_BUTTON), self.place)
        if press is not None:
            query, user, data = press
            await self.actions[data.action](update, context, Press(query, user, data))


def message_of(query: CallbackQuery) -> Message | None:
    """The message under the pressed button (None: too old for Telegram to send it)."""
    return query.message if isinstance(query.message, Message) else None


def _pressed_where_sent(query: CallbackQuery, message: Message, user: User, place: Place) -> bool:
    sender = message.from_user
    if sender is None or sender.id != query.get_bot().id:
        return False
    if place is Place.GROUP:
        return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    # A user's buttons: in their own chat with the bot, and only the data of a button that
    # message shows (a forged press carries data sent on some other message, or none).
    return (
        message.chat.type == ChatType.PRIVATE
        and message.chat.id == user.id
        and query.data in _shown_data(message.reply_markup)
    )


def _shown_data(markup: InlineKeyboardMarkup | None) -> set[str]:
    if markup is None:
        return set()
    return {
        str(button.callback_data)
        for row in markup.inline_keyboard
        for button in row
        if button.callback_data is not None
    }
