"""What every handler module needs: the core services, who is talking, safe replies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes, MessageHandler, filters

from core.accounts import TelegramIdentity
from core.services import Services
from core.stray_secrets import Place
from core.verification import Result, Verdict, proof_code
from handlers.texts import format as fmt
from handlers.texts import tr
from handlers.texts import user as texts

logger = logging.getLogger(__name__)
SERVICES_KEY = "services"


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The core, assembled at start-up (``bot.app``); objects, never user state."""
    return context.application.bot_data[SERVICES_KEY]


def identity(user: User) -> TelegramIdentity:
    return TelegramIdentity(user_id=user.id, username=user.username, display_name=user.full_name)


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def private_user(update: Update) -> User | None:
    """The user, for commands that only make sense in the private chat; in a group the
    bot says so and the command stops (None)."""
    user = update.effective_user
    if user is None:
        return None
    if not is_private(update):
        await reply(update, tr(texts.PRIVATE_ONLY))
        return None
    return user


def private_messages(
    callback: Callable[[Update, Any], Coroutine[Any, Any, None]],
) -> MessageHandler:
    """A handler for what users type in the private chat (not commands): a flow's step."""
    return MessageHandler(
        filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND, callback
    )


async def reply(update: Update, text: str, **kwargs: object) -> Message | None:
    """Answer in the chat the update came from, as HTML."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, parse_mode=ParseMode.HTML, **kwargs)  # type: ignore[arg-type]


async def edit_or_send(
    message: Message | None,
    update: Update,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Replace a message's text and buttons (none by default); send a new one if it can't be
    edited."""
    if message is not None:
        try:
            await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=reply_markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            logger.info("could not edit message %s: %s", message.message_id, exc)
    await reply(update, text, reply_markup=reply_markup)


async def refuse_proof(update: Update, verdict: Verdict, *, recovering: bool = False) -> None:
    """A code asked for before a change was not accepted: say why; nothing changed.
    (A lock also ended the flow's wait, in the core: no code can be given for a while.)"""
    if verdict.result is Result.LOCKED:
        until = (
            fmt.until(verdict.locked_until) if verdict.locked_until else tr(texts.SUPPORT_CLEARS)
        )
        await reply(update, tr(texts.CHANGE_LOCKED).format(until=until))
        return
    tries = texts.check_tries(verdict.tries_left)
    tries = tries[:1].upper() + tries[1:]  # not capitalize(): German nouns keep their capital
    template = tr(texts.RECOVERY_REFUSED) if recovering else tr(texts.CHANGE_REFUSED)
    await reply(update, template.format(tries=tries))


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message) -> None:
    """A secret the user typed (a code, a recovery code) leaves the chat."""
    from handlers import cleanup  # cleanup's job needs this module's ``services``

    assert update.effective_chat is not None
    svc = services(context)
    await svc.cleanup.schedule(update.effective_chat.id, [message.message_id])
    await cleanup.flush(svc.cleanup, context.bot, update.effective_chat.id)


async def stray_secret(
    update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message | None = None
) -> bool:
    """A message no prompt takes as a proof (the update's, unless given): if it looks like
    a code, a recovery code or a key it leaves the chat, and what it gave away stops
    working (``core.stray_secrets``); whoever manages the account is told at once of a
    voided recovery code. True: it looked like a secret."""
    from handlers import notices  # notices' sender needs this module's ``services``

    message = message or update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return False
    text = message.text or message.caption or ""
    svc = services(context)
    place = Place.PRIVATE if is_private(update) else Place.GROUP
    sighting = await svc.stray_secrets.seen(identity(user), text, place)
    if not sighting.remove:
        return False
    await forget(update, context, message)
    if sighting.voided:
        await notices.deliver(context.bot, svc)
    return True


async def proof_in(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """The code (or recovery code) a user sent as proof before a change; it leaves the chat
    (spent or wrong, it is of no use there). None: not a code; the user was told."""
    message = update.effective_message
    assert message is not None
    code = proof_code(message.text or "")
    if code is None:
        await reply(update, tr(texts.CODE_FOR_CHANGE_EXPECTED))
        await stray_secret(update, context, message)  # "it is 123 456, I think"
        return None
    await forget(update, context, message)
    return code
