"""Enrolment links: ``t.me/<bot>?start=<token>`` binds the chat to an account and starts
enrolment; switching away from another account needs a yes."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.links import LinkOpening, LinkOutcome
from handlers import enrolment
from handlers.callback_data import Action, button, parse_press, pattern
from handlers.common import edit_or_send, identity, reply, services
from handlers.texts import user as texts

_PROBLEMS = {
    LinkOutcome.UNKNOWN: texts.LINK_UNKNOWN,
    LinkOutcome.USED: texts.LINK_USED,
    LinkOutcome.EXPIRED: texts.LINK_EXPIRED,
}


async def open_link(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """/start <token> in the private chat."""
    assert update.effective_user is not None
    opening = await services(context).links.open(token, identity(update.effective_user))
    if opening.outcome is LinkOutcome.CONFIRM:
        assert opening.link is not None and opening.current_account is not None
        new, current = escape(opening.link.account_id), escape(opening.current_account)
        ref = opening.link.id
        await reply(
            update,
            texts.LINK_CONFIRM.format(new=new, current=current),
            reply_markup=InlineKeyboardMarkup(
                [
                    [button(texts.BUTTON_SWITCH, Action.SWITCH_ACCOUNT, ref)],
                    [button(texts.BUTTON_KEEP, Action.KEEP_ACCOUNT, ref)],
                ]
            ),
        )
        return
    await _settle(update, context, opening)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = await parse_press(update, texts.STALE_BUTTON)
    if press is None:
        return
    query, user, data = press
    svc = services(context)
    if data.action is Action.KEEP_ACCOUNT:
        await query.answer()
        status = await svc.enrolment.status(identity(user))
        await edit_or_send(
            enrolment.message_of(query),
            update,
            texts.LINK_KEPT.format(current=escape(status.account_id)),
        )
        return
    opening = await svc.links.confirm(data.ref, identity(user))
    if opening.outcome is LinkOutcome.UNKNOWN:
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer()
    await _settle(update, context, opening)


async def _settle(update: Update, context: ContextTypes.DEFAULT_TYPE, opening: LinkOpening) -> None:
    """Bound: say so and start enrolment. Otherwise: say what is wrong with the link."""
    if opening.outcome is LinkOutcome.BOUND:
        assert opening.link is not None
        await reply(update, texts.LINK_BOUND.format(account=escape(opening.link.account_id)))
        await enrolment.begin(update, context)
        return
    await reply(update, _PROBLEMS[opening.outcome])


def register(app: Application) -> None:
    app.add_handler(
        CallbackQueryHandler(on_button, pattern=pattern(Action.SWITCH_ACCOUNT, Action.KEEP_ACCOUNT))
    )
