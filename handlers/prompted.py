"""What a user types while the bot waits for something outside an enrolment (a /check
code, a /lost reason, a code before a change): the prompt is read once and the message
goes to the flow that asked for it."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes

from handlers import check, devices, lost
from handlers.common import private_messages, services

PROMPT_GROUP = 11  # after the enrolment steps, before the catch-all

_ROUTES = {
    kind: flow.answer_prompt for flow in (check, lost, devices) for kind in flow.PROMPT_KINDS
}


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None or update.effective_message is None:
        return
    prompt = await services(context).prompts.get(user.id)
    if prompt is None or prompt.kind not in _ROUTES:
        return  # nothing asked: the catch-all answers
    await _ROUTES[prompt.kind](update, context, prompt)
    raise ApplicationHandlerStop


def register(app: Application) -> None:
    app.add_handler(private_messages(on_message), group=PROMPT_GROUP)
