"""Which language each update is answered in, and /language to pick one."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)

from handlers.callback_data import Action, Place, button, parse_press, pattern
from handlers.common import edit_or_send, private_user, reply, services
from handlers.conversation import pending
from handlers.enrolment import message_of
from handlers.texts import set_language, tr
from handlers.texts import user as texts

LANGUAGE_GROUP = -100  # before every other handler of the update
NAMES = {"en": "English", "de": "Deutsch"}


async def choose_for_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The support and ops chats speak their own language; a user theirs."""
    svc = services(context)
    chat, user = update.effective_chat, update.effective_user
    settings = svc.settings
    if chat is not None and chat.id == settings.support_chat_id:
        set_language(settings.support_language)
    elif chat is not None and chat.id == settings.ops_chat_id:
        set_language(settings.ops_language)
    elif user is not None and not user.is_bot:
        set_language(await svc.languages.for_update(user.id, user.language_code))


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await private_user(update) is None:
        return
    await reply(
        update,
        tr(texts.LANGUAGE_ASK),
        reply_markup=InlineKeyboardMarkup(
            [[button(name, Action.LANGUAGE, code) for code, name in NAMES.items()]]
        ),
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = await parse_press(update, tr(texts.STALE_BUTTON), Place.PRIVATE)
    if press is None:
        return
    query, user, data = press
    svc = services(context)
    if not await svc.languages.choose(user.id, data.ref):
        await query.answer(tr(texts.STALE_BUTTON))
        return
    set_language(data.ref)
    await query.answer()
    await edit_or_send(message_of(query), update, tr(texts.LANGUAGE_SET))
    # A flow that waits goes on: say again, in the new language, what it waits for.
    slot = await svc.conversations.current(user.id)
    if slot is not None and not svc.conversations.expired(slot):
        await reply(update, pending(slot))


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, choose_for_update), group=LANGUAGE_GROUP)
    app.add_handler(CommandHandler("language", language_command))
    app.add_handler(CallbackQueryHandler(on_button, pattern=pattern(Action.LANGUAGE)))
