"""Which language each update is answered in, and /language to pick one."""

from __future__ import annotations

from collections import OrderedDict

from telegram import InlineKeyboardMarkup, Update, User
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)

from handlers.callback_data import Action, ButtonTable, Place, Press, button, message_of
from handlers.common import edit_or_send, private_user, reply, services
from handlers.conversation import pending
from handlers.texts import set_language, tr
from handlers.texts import user as texts

LANGUAGE_GROUP = -100  # before every other handler of the update
NAMES = {"en": "English", "de": "Deutsch"}

# The language of the users seen lately, and the Telegram code it was worked out with:
# while their app reports that same code, their language is what the database said
# (only this process writes it: the one bot process that takes updates, and /language
# below), so an update asks the database only when the code changed, or for a user not
# seen lately. Kept per application (a new one, a restart, starts empty).
KNOWN_KEY = "languages_known"
KNOWN_MAX = 10_000
Known = OrderedDict[int, tuple[str | None, str]]


def _known(context: ContextTypes.DEFAULT_TYPE) -> Known:
    return context.application.bot_data.setdefault(KNOWN_KEY, OrderedDict())


def _remember(context: ContextTypes.DEFAULT_TYPE, user: User, language: str) -> None:
    known = _known(context)
    known[user.id] = (user.language_code, language)
    known.move_to_end(user.id)
    if len(known) > KNOWN_MAX:
        known.popitem(last=False)


async def _language_of(context: ContextTypes.DEFAULT_TYPE, user: User) -> str:
    seen = _known(context).get(user.id)
    if seen is not None and seen[0] == user.language_code:
        _known(context).move_to_end(user.id)
        return seen[1]
    language = await services(context).languages.for_update(user.id, user.language_code)
    _remember(context, user, language)
    return language


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
        set_language(await _language_of(context, user))


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


async def on_choose(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """A language under /language: the ref is its code."""
    query, user, language = press.query, press.user, press.data.ref
    svc = services(context)
    if not await svc.languages.choose(user.id, language):
        await query.answer(tr(texts.STALE_BUTTON))
        return
    set_language(language)
    _remember(context, user, language)
    await query.answer()
    await edit_or_send(message_of(query), update, tr(texts.LANGUAGE_SET))
    # A flow that waits goes on: say again, in the new language, what it waits for.
    slot = await svc.conversations.current(user.id)
    if slot is not None and not svc.conversations.expired(slot):
        await reply(update, pending(slot))


BUTTONS = ButtonTable(Place.PRIVATE, {Action.LANGUAGE: on_choose})


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, choose_for_update), group=LANGUAGE_GROUP)
    app.add_handler(CommandHandler("language", language_command))
    app.add_handler(BUTTONS.handler())
