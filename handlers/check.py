"""/check: the user tries a code from the app and gets the answer a login would get."""

from __future__ import annotations

from html import escape
from typing import Any

from telegram import Message, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
)

from core.conversation import Flow, Step
from core.records import Conversation
from core.verification import Result, Verdict, proof_code
from handlers import conversation
from handlers.common import forget, identity, is_private, reply, services, stray_secret
from handlers.texts import format as fmt
from handlers.texts import tr
from handlers.texts import user as texts


async def check_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/check waits for a code; ``/check 123456`` checks it at once."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    if not is_private(update):
        if context.args:  # a code where everyone can read it: out of the group, spent
            if not await stray_secret(update, context, message):
                await forget(update, context, message)
            await reply(update, tr(texts.CODE_IN_GROUP).format(bot_username=context.bot.username))
            return
        await reply(update, tr(texts.PRIVATE_ONLY))
        return
    if context.args:  # "/check 123456": the code must not stay in the chat either way
        svc = services(context)
        slot = await svc.conversations.current(user.id)
        if slot is not None and slot.flow != Flow.CHECK and not svc.conversations.expired(slot):
            if not await stray_secret(update, context, message):
                await forget(update, context, message)
            await conversation.claim(update, context, Flow.CHECK, Step.CODE)  # says what waits
            return
        await _check(update, context, " ".join(context.args), message)
        return
    await start(update, context, {})


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE, data: dict[str, Any]) -> None:
    if await conversation.claim(update, context, Flow.CHECK, Step.CODE):
        await reply(update, tr(texts.CHECK_ASK))


async def on_code(update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation) -> None:
    """A private message while the bot waits for a /check code."""
    message = update.effective_message
    assert message is not None
    await _check(update, context, message.text or "", message)


FLOW = conversation.FlowSpec(
    Flow.CHECK,
    states={
        Step.CODE: on_code,  # a code -> done (a wrong code: CODE again, until the lock)
    },
    start=start,
)


async def _check(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, message: Message
) -> None:
    """Check the code (the core ends a waiting /check unless the code was wrong)."""
    assert update.effective_user is not None and update.effective_chat is not None
    code = proof_code(text)
    if code is None:
        await reply(update, tr(texts.CHECK_EXPECTED))
        await stray_secret(update, context, message)  # a code among words
        return
    svc = services(context)
    who = identity(update.effective_user)
    account, verdict = await svc.verification.verify_for(who, code)
    await reply(update, _answer(account, verdict))
    await forget(update, context, message)


def _answer(account: str, verdict: Verdict) -> str:
    if verdict.result is Result.ACCEPTED and verdict.method == "recovery_code":
        return tr(texts.CHECK_ACCEPTED_RECOVERY).format(left=verdict.recovery_codes_left or 0)
    if verdict.result is Result.ACCEPTED:
        device = escape(verdict.device.name) if verdict.device is not None else tr(texts.YOUR_APP)
        return tr(texts.CHECK_ACCEPTED).format(device=device)
    if verdict.result is Result.REJECTED:
        return tr(texts.CHECK_REJECTED).format(tries=texts.check_tries(verdict.tries_left))
    if verdict.result is Result.LOCKED:
        if verdict.hard_locked or verdict.locked_until is None:
            return tr(texts.CHECK_HARD_LOCKED)
        return tr(texts.CHECK_LOCKED).format(until=fmt.until(verdict.locked_until))
    if verdict.result is Result.DEACTIVATED:
        assert verdict.deactivated_until is not None
        return tr(texts.CHECK_DEACTIVATED).format(
            account=escape(account), until=fmt.when(verdict.deactivated_until)
        )
    if verdict.result is Result.ENROLLMENT_REQUIRED:
        return tr(texts.CHECK_ENROLLMENT_REQUIRED).format(account=escape(account))
    return tr(texts.CHECK_NOT_ENROLLED).format(account=escape(account))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("check", check_command))
