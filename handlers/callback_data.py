"""Callback data: small, versioned, typed; everything else is looked up in the database.

``v1:<action>:<ref>`` where ``ref`` is an id (lowercase letters, digits, dots).
Anything that does not parse is a forged or outdated button and is answered and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from telegram import CallbackQuery, InlineKeyboardButton, Update, User

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
    update: Update, stale_text: str
) -> tuple[CallbackQuery, User, CallbackData] | None:
    """The press and its data; a press whose data does not parse is answered and dropped."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return None
    data = CallbackData.parse(query.data)
    if data is None:
        await query.answer(stale_text)
        return None
    return query, user, data
