"""/check: the user tries a code from the app and gets the answer a login would get."""

from __future__ import annotations

from html import escape

from telegram import Message, Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
)

from bot import prompts, totp
from bot.enrolment import Outcome
from bot.recovery import looks_like_recovery_code
from bot.verification import Result, Verdict
from handlers import cleanup
from handlers.common import identity, is_private, reply, services
from handlers.texts import format as fmt
from handlers.texts import user as texts
from storage.records import ChatPrompt


async def check_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    if not is_private(update):
        await reply(update, texts.PRIVATE_ONLY)
        return
    svc = services(context)
    if (await svc.enrolment.pending(user.id)).outcome is Outcome.ACCEPTED:
        await reply(update, texts.CHECK_DURING_ENROLMENT)
        return
    if context.args:  # "/check 123456"
        await _check(update, context, " ".join(context.args), message)
        return
    await svc.prompts.expect(user.id, prompts.CHECK)
    await reply(update, texts.CHECK_ASK)


PROMPT_KINDS = (prompts.CHECK,)


async def answer_prompt(
    update: Update, context: ContextTypes.DEFAULT_TYPE, prompt: ChatPrompt
) -> None:
    """A private message while the bot waits for a /check code."""
    message = update.effective_message
    assert message is not None
    await _check(update, context, message.text or "", message)


async def _check(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, message: Message
) -> None:
    assert update.effective_user is not None and update.effective_chat is not None
    parsed = totp.parse_code(text)
    code = parsed.code or (text.strip() if looks_like_recovery_code(text.strip()) else None)
    if code is None:
        await reply(update, texts.CHECK_EXPECTED)
        return
    svc = services(context)
    who = identity(update.effective_user)
    account, verdict = await svc.verification.verify_for(who, code)
    # The code is spent or wrong either way; it need not stay in the chat.
    await svc.cleanup.schedule(update.effective_chat.id, [message.message_id])
    if verdict.result is not Result.REJECTED:
        await svc.prompts.clear(who.user_id)
    await reply(update, _answer(account, verdict))
    await cleanup.flush(svc.cleanup, context.bot, update.effective_chat.id)


def _answer(account: str, verdict: Verdict) -> str:
    if verdict.result is Result.ACCEPTED and verdict.method == "recovery_code":
        return texts.CHECK_ACCEPTED_RECOVERY.format(left=verdict.recovery_codes_left or 0)
    if verdict.result is Result.ACCEPTED:
        device = verdict.device.name if verdict.device is not None else "your app"
        return texts.CHECK_ACCEPTED.format(device=escape(device))
    if verdict.result is Result.REJECTED:
        return texts.CHECK_REJECTED.format(tries=texts.check_tries(verdict.tries_left))
    if verdict.result is Result.LOCKED:
        if verdict.hard_locked or verdict.locked_until is None:
            return texts.CHECK_HARD_LOCKED
        return texts.CHECK_LOCKED.format(until=fmt.when(verdict.locked_until))
    if verdict.result is Result.DEACTIVATED:
        assert verdict.deactivated_until is not None
        return texts.CHECK_DEACTIVATED.format(
            account=escape(account), until=fmt.when(verdict.deactivated_until)
        )
    return texts.CHECK_NOT_ENROLLED.format(account=escape(account))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("check", check_command))
