"""Accounts: who is talking (a Telegram user and the account they manage) and what
state an account is in, as the login system and support see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from storage.db import Database
from storage.records import Device
from storage.repositories import Transaction


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


@dataclass(frozen=True)
class AccountState:
    account_id: str
    devices: list[Device]
    consecutive_failures: int
    locked_until: datetime | None
    hard_locked: bool
    deactivated_until: datetime | None  # a deactivation window still running
    two_factor_on: bool = False  # from the first activation until a proven turn-off

    @property
    def enrolled(self) -> bool:
        return bool(self.devices)

    @property
    def required(self) -> bool:
        """Whether a login needs a second factor now: 2FA is on and no deactivation
        window runs (with no device, every login is refused: enrollment_required)."""
        return (self.two_factor_on or self.enrolled) and self.deactivated_until is None


class AccountDirectory:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def describe(self, account_id: str) -> AccountState:
        """Enrolment, devices, lock and deactivation; an unknown account is not enrolled."""
        now = self._clock.now()

        def work(tx: Transaction) -> AccountState:
            security, devices = tx.security.with_devices(account_id)
            locked = security.locked_until
            deactivated = security.deactivated_until
            return AccountState(
                account_id=account_id,
                devices=devices,
                consecutive_failures=security.consecutive_failures,
                locked_until=locked if locked is not None and locked > now else None,
                hard_locked=security.hard_locked_at is not None,
                deactivated_until=deactivated
                if deactivated is not None and deactivated > now
                else None,
                two_factor_on=security.two_factor_required,
            )

        return await self._db.run(work)
