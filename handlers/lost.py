"""/lost: the user asks support to turn 2FA off for a while, confirms, may withdraw."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot import prompts
from bot.deactivation import MAX_REASON, FileOutcome, FileResult, reason_problem
from handlers import support_sync
from handlers.callback_data import Action, button, parse_press, pattern, ref_number
from handlers.common import (
    edit_or_send,
    identity,
    is_private,
    private_user,
    reply,
    services,
)
from handlers.enrolment import message_of
from handlers.texts import format as fmt
from handlers.texts import user as texts
from storage.records import ChatPrompt


async def lost(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lost and the "Lost my authenticator" button: a recovery code first, else support."""
    user = await private_user(update)
    if user is None:
        return
    svc = services(context)
    who = identity(user)
    _, open_request = await svc.deactivation.open_request(who)
    _, devices, codes_left = await svc.devices.overview(who)
    if open_request is None and devices and codes_left:
        rows = [[button(texts.BUTTON_USE_RECOVERY, Action.LOST_USE_RECOVERY)]]
        if svc.deactivation.support_enabled:
            rows.append([button(texts.BUTTON_ASK_SUPPORT, Action.LOST_ASK_SUPPORT)])
        await reply(update, texts.LOST_CHOICE, reply_markup=InlineKeyboardMarkup(rows))
        return
    await ask_support(update, context)


async def ask_support(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what support can do and ask for the reason."""
    assert update.effective_user is not None
    svc = services(context)
    who = identity(update.effective_user)
    account, _ = await svc.deactivation.open_request(who)
    check = await svc.deactivation.can_file(who)
    if check.outcome is not FileOutcome.FILED:
        await _refusal(update, check, account)
        return
    await svc.prompts.expect(who.user_id, prompts.LOST_REASON, prompts.LONG_PROMPT_TTL)
    await reply(update, texts.LOST_EXPLAIN.format(account=escape(account), max=MAX_REASON))


async def _refusal(update: Update, result: FileResult, account: str) -> None:
    if result.outcome is FileOutcome.ALREADY_OPEN and result.request is not None:
        request = result.request
        await reply(
            update,
            texts.LOST_ALREADY_OPEN.format(id=request.id, created=fmt.when(request.created_at)),
            reply_markup=_withdraw_markup(request.id),
        )
    elif result.outcome is FileOutcome.NOT_ENROLLED:
        await reply(update, texts.LOST_NOT_ENROLLED.format(account=escape(account)))
    else:
        await reply(update, texts.LOST_NO_SUPPORT)


def _withdraw_markup(request_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(texts.BUTTON_WITHDRAW, Action.LOST_WITHDRAW, str(request_id))]]
    )


PROMPT_KINDS = (prompts.LOST_REASON, prompts.LOST_CONFIRM)


async def answer_prompt(
    update: Update, context: ContextTypes.DEFAULT_TYPE, prompt: ChatPrompt
) -> None:
    """The reason, typed after /lost (or a new text replacing it before sending)."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    svc = services(context)
    if message.text is None:
        await reply(update, texts.LOST_REASON_EXPECTED)
        raise ApplicationHandlerStop
    problem = reason_problem(message.text)
    if problem:
        await reply(update, texts.LOST_REASON_PROBLEMS[problem].format(max=MAX_REASON))
        raise ApplicationHandlerStop
    reason = message.text.strip()
    await svc.prompts.expect(user.id, prompts.LOST_CONFIRM, prompts.LONG_PROMPT_TTL, reason)
    account, _ = await svc.deactivation.open_request(identity(user))
    await reply(
        update,
        texts.LOST_CONFIRM.format(reason=escape(reason), account=escape(account)),
        reply_markup=InlineKeyboardMarkup(
            [
                [button(texts.BUTTON_SEND_REQUEST, Action.LOST_SEND)],
                [button(texts.BUTTON_CANCEL, Action.LOST_CANCEL)],
            ]
        ),
    )
    raise ApplicationHandlerStop


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = await parse_press(update, texts.STALE_BUTTON)
    if press is None:
        return
    query, user, data = press
    if not is_private(update):
        await query.answer(texts.PRIVATE_ONLY)
        return
    if data.action is Action.LOST:
        await query.answer()
        await lost(update, context)
        return
    if data.action is Action.LOST_ASK_SUPPORT:
        await query.answer()
        await ask_support(update, context)
        return
    svc = services(context)
    who = identity(user)
    if data.action is Action.LOST_WITHDRAW:
        request_id = ref_number(data.ref)
        withdrawn = None if request_id is None else await svc.deactivation.withdraw(who, request_id)
        if withdrawn is None:
            await query.answer(texts.STALE_BUTTON)
            return
        await query.answer()
        await edit_or_send(message_of(query), update, texts.LOST_WITHDRAWN.format(id=withdrawn.id))
        await support_sync.sync(context.bot, svc)
        return
    prompt = await svc.prompts.get(user.id)
    if prompt is None or prompt.kind != prompts.LOST_CONFIRM or prompt.data is None:
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer()
    await svc.prompts.clear(user.id)
    if data.action is Action.LOST_CANCEL:
        await edit_or_send(message_of(query), update, texts.STOPPED)
        return
    assert update.effective_chat is not None
    result = await svc.deactivation.file(who, update.effective_chat.id, prompt.data)
    if result.outcome is not FileOutcome.FILED or result.request is None:
        account, _ = await svc.deactivation.open_request(who)
        await _refusal(update, result, account)
        return
    await edit_or_send(
        message_of(query),
        update,
        texts.LOST_FILED.format(id=result.request.id),
        _withdraw_markup(result.request.id),
    )
    await support_sync.sync(context.bot, svc)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("lost", lost))
    app.add_handler(
        CallbackQueryHandler(
            on_button,
            pattern=pattern(
                Action.LOST,
                Action.LOST_SEND,
                Action.LOST_CANCEL,
                Action.LOST_WITHDRAW,
                Action.LOST_ASK_SUPPORT,
            ),
        )
    )
