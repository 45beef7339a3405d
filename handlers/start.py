"""/start, /help, /status, and the answers for anything no flow claimed."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from core.records import TelegramUserLink
from handlers import links
from handlers.callback_data import Action, button
from handlers.common import identity, is_private, private_user, reply, services, stray_secret
from handlers.devices import no_device_text
from handlers.texts import format as fmt
from handlers.texts import tr
from handlers.texts import user as texts

FALLBACK_GROUP = 90  # after every flow's step handler
MAX_NAME_SHOWN = 40


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if not is_private(update):
        if context.args:  # a link where everyone can read it: it must not work any more
            await links.link_seen_in_group(update, context, context.args[0])
            return
        await reply(update, tr(texts.GROUP_REFUSAL).format(bot_username=context.bot.username))
        return
    if context.args:  # t.me/<bot>?start=<token>: an enrolment link
        await links.open_link(update, context, context.args[0])
        return
    await reply(
        update,
        tr(texts.START),
        reply_markup=InlineKeyboardMarkup(
            [
                [button(tr(texts.BUTTON_ENROLL), Action.ENROLL)],
                [button(tr(texts.BUTTON_LOST), Action.LOST)],
            ]
        ),
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, tr(texts.HELP))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = await private_user(update)
    if user is None:
        return
    svc = services(context)
    state = await svc.enrolment.status(identity(user))
    _, people = await svc.links.managers(identity(user))
    account = escape(state.account_id)
    if state.devices:
        text = tr(texts.STATUS_ACTIVE).format(
            account=account, devices=fmt.device_lines(state.devices)
        )
    else:
        text = no_device_text(state)
    if state.deactivated_until is not None:
        text += tr(texts.STATUS_DEACTIVATED).format(until=fmt.when(state.deactivated_until))
    if state.pending is not None:
        text += tr(texts.STATUS_PENDING).format(
            step=tr(texts.STEP_NAMES[state.pending.stage.value]),
            expires=fmt.when(state.pending.expires_at),
        )
    text += tr(texts.STATUS_PEOPLE).format(people=_people(people, user.id))
    buttons = [[button(tr(texts.BUTTON_LOST), Action.LOST)]] if state.devices else []
    if state.needs_new_device:
        buttons = [[button(tr(texts.BUTTON_ENROLL), Action.ENROLL)]]
    buttons += [
        [
            button(
                tr(texts.BUTTON_REMOVE_PERSON).format(name=p.display_name[:MAX_NAME_SHOWN]),
                Action.MANAGER_REMOVE,
                str(p.user_id),
            )
        ]
        for p in people
        if p.user_id != user.id
    ]
    await reply(update, text, reply_markup=InlineKeyboardMarkup(buttons) if buttons else None)


def _people(people: list[TelegramUserLink], you: int) -> str:
    """Everyone who manages the account from Telegram, and since when."""
    return "\n".join(
        tr(texts.PERSON_LINE).format(
            name=escape(p.display_name[:MAX_NAME_SHOWN]),
            username=f" @{escape(p.username)}" if p.username else "",
            since=fmt.when(p.linked_at) if p.linked_at else tr(texts.PERSON_SINCE_UNKNOWN),
            you=tr(texts.PERSON_YOU) if p.user_id == you else "",
        )
        for p in people
    )


async def unknown_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Nothing waits for this message: it is answered, and a secret in it leaves the chat."""
    await reply(update, tr(texts.UNKNOWN_INPUT))
    await stray_secret(update, context)


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Anything posted in a group: a secret in it leaves the group (where the bot may delete
    it) and stops working; the group is told why it went."""
    if await stray_secret(update, context):
        await reply(update, tr(texts.SECRET_IN_GROUP).format(bot_username=context.bot.username))


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button no flow claimed: an old message, or forged data."""
    if update.callback_query is not None:
        await update.callback_query.answer(tr(texts.STALE_BUTTON))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("status", status))


def register_fallbacks(app: Application) -> None:
    """Last in line: within group 0 the first matching handler wins, so these come last."""
    private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(private_message & filters.COMMAND, unknown_input))
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_handler(
        MessageHandler(private_message & ~filters.COMMAND, unknown_input), group=FALLBACK_GROUP
    )
    # In a group of its own: the support chat's reply handler (group 0) must not hide a
    # secret from it.
    group_text = filters.ChatType.GROUPS & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND
    app.add_handler(MessageHandler(group_text, group_message), group=FALLBACK_GROUP)
