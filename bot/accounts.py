"""Who is talking: a Telegram user and the account they manage from the chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.repositories import Transaction

MAX_ACCOUNT_ID_LENGTH = 256


@dataclass(frozen=True)
class TelegramIdentity:
    """The parts of a Telegram user the core needs; built by the handlers."""

    user_id: int
    username: str | None
    display_name: str

    @property
    def actor(self) -> str:
        """How this user appears in the audit log."""
        return f"tg:{self.user_id}"


def default_account_id(user_id: int) -> str:
    """A user who starts the bot without an enrolment link gets ``tg:<user id>``."""
    return f"tg:{user_id}"


def account_for(tx: Transaction, who: TelegramIdentity, now: datetime) -> str:
    """The account this Telegram user manages; the default one is created on first contact."""
    link = tx.accounts.link_for(who.user_id)
    if link is None:
        account_id = default_account_id(who.user_id)
        tx.accounts.ensure(account_id, now)
        tx.accounts.save_link(who.user_id, account_id, who.username, who.display_name, now)
        tx.audit.record(
            now, who.actor, "account_linked", account_id=account_id, telegram_user_id=who.user_id
        )
        return account_id
    if (link.username, link.display_name) != (who.username, who.display_name):
        tx.accounts.save_link(who.user_id, link.account_id, who.username, who.display_name, now)
    return link.account_id
