"""The recovery codes message: shown once and not for long; "I have saved them" sends it
off early."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, ContextTypes

from core.cleanup import RECOVERY_CODES_SHOWN
from handlers import cleanup
from handlers.callback_data import Action, ButtonTable, Place, Press, button
from handlers.common import services
from handlers.texts import tr
from handlers.texts import user as texts


async def send_recovery_codes(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    account: str,
    codes: list[str] | tuple[str, ...],
) -> None:
    """Shown once, and not for long: the message leaves the chat when the user says the
    codes are saved, or after ``RECOVERY_CODES_SHOWN`` (a durable cleanup row, so a restart
    does not keep it). Not content-protected: the user has to copy them somewhere safe."""
    svc = services(context)
    chat, asking = update.effective_chat, update.effective_message
    assert chat is not None and asking is not None
    listing = "\n".join(f"<code>{code}</code>" for code in codes)
    minutes = int(RECOVERY_CODES_SHOWN.total_seconds() // 60)
    # The row comes first, under the id the message will most likely get (the one that
    # asked for it, plus one): a kill or a lost answer after Telegram took the message
    # still leaves a row that deletes it.
    expected = asking.message_id + 1
    await svc.cleanup.schedule(chat.id, [expected], after=RECOVERY_CODES_SHOWN)
    try:
        sent = await chat.send_message(
            tr(texts.RECOVERY_CODES).format(
                account=escape(account), codes=listing, minutes=minutes
            ),
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(
                [[button(tr(texts.BUTTON_CODES_SAVED), Action.RECOVERY_SAVED)]]
            ),
        )
    except (BadRequest, Forbidden):
        await svc.cleanup.withdraw(chat.id, expected)  # refused: nothing was shown
        raise
    await svc.cleanup.correct(chat.id, expected, sent.message_id, after=RECOVERY_CODES_SHOWN)


async def on_saved(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """ "I have saved them" under the recovery codes: the message leaves the chat now."""
    query = press.query
    message = query.message
    assert message is not None  # parse_press checked where the press happened
    svc = services(context)
    if not await svc.cleanup.hasten(message.chat.id, message.message_id):
        await query.answer(tr(texts.STALE_BUTTON))
        return
    await query.answer(tr(texts.CODES_REMOVED))
    await cleanup.flush(svc.cleanup, context.bot, message.chat.id)


BUTTONS = ButtonTable(Place.PRIVATE, {Action.RECOVERY_SAVED: on_saved})


def register(app: Application) -> None:
    app.add_handler(BUTTONS.handler())
