"""The audit chain's jobs on the active bot (core/audit_chain.py): new audit rows are
chained every few seconds, and once a day (and at start) the head of the chain goes to
the ops chat as an ``audit_head`` alert, so the ops chat keeps a record of it."""

from __future__ import annotations

from telegram.ext import ContextTypes

from handlers.common import services

CHAIN_INTERVAL_S = 5
HEAD_INTERVAL_S = 24 * 3600


async def chain_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await services(context).audit_chain.chain_pending()


async def head_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await services(context).audit_chain.post_head()
