"""Who manages an account from the chat: everyone on an account, and one of them
removing another. For an account with 2FA the removal asks for a current code (or a
recovery code) first, checked as a login would, in the transaction that removes; without
2FA there is nothing a code could prove, and the person goes at once. Everyone on the
account is told; the person removed is back on their own account.

How someone comes to manage an account (an enrolment link) is ``core/links.py``; both
end with ``leave``: a set-up begun for an account one no longer manages ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core import conversation, events
from core.accounts import TelegramIdentity, account_for, default_account_id
from core.clock import Clock
from core.conversation import Busy, Flow, Step
from core.verification import Result, Verdict, VerificationService
from storage.db import Database
from storage.records import Conversation, TelegramUserLink
from storage.repositories import Transaction


class RemovalOutcome(StrEnum):
    REMOVED = "removed"  # the person no longer manages the account
    PROOF = "proof"  # the account has 2FA: the user's slot waits for a code
    REFUSED = "refused"  # the code given was not accepted (``verdict``); nothing changed
    BUSY = "busy"  # another flow waits for the user's answer (``waiting``)
    UNKNOWN = "unknown"  # not someone else on the user's account (any more)


@dataclass(frozen=True)
class ManagerRemoval:
    outcome: RemovalOutcome
    person: TelegramUserLink | None = None
    account_id: str = ""
    verdict: Verdict | None = None
    waiting: Conversation | None = None


class AccountManagers:
    """The people on the user's account, and removing one of them."""

    def __init__(self, db: Database, clock: Clock, verification: VerificationService) -> None:
        self._db = db
        self._clock = clock
        self._verification = verification

    async def managers(self, who: TelegramIdentity) -> tuple[str, list[TelegramUserLink]]:
        """(the user's account, everyone who manages it from Telegram, longest first)."""
        now = self._clock.now()

        def work(tx: Transaction) -> tuple[str, list[TelegramUserLink]]:
            account_id = account_for(tx, who, now)
            return account_id, tx.accounts.users_of(account_id)

        return await self._db.run(work)

    async def start_removal(
        self, who: TelegramIdentity, person_id: int, chat_id: int
    ) -> ManagerRemoval:
        """ "Remove <person>": for an account with 2FA, the slot waits for a code first;
        without 2FA there is nothing a code could prove, and the person goes at once."""
        now = self._clock.now()

        def work(tx: Transaction) -> ManagerRemoval:
            account_id, person = _other_manager(tx, who, person_id, now)
            if person is None:
                return ManagerRemoval(RemovalOutcome.UNKNOWN, account_id=account_id)
            if not tx.devices.active_for(account_id):
                self._unlink(tx, who, person, now)
                return ManagerRemoval(RemovalOutcome.REMOVED, person, account_id)
            data = {"person": person.user_id, "name": person.display_name}
            slot = conversation.claim(
                tx, who.user_id, chat_id, Flow.UNLINK, Step.PROOF, now, data=data
            )
            if isinstance(slot, Busy):
                return ManagerRemoval(RemovalOutcome.BUSY, person, account_id, waiting=slot.waiting)
            return ManagerRemoval(RemovalOutcome.PROOF, person, account_id)

        return await self._db.run(work)

    async def remove_manager(
        self, who: TelegramIdentity, person_id: int, text: str
    ) -> ManagerRemoval:
        """The code before removing a person: accepted, they no longer manage the account
        (in the same transaction) and everyone on it is told."""
        now = self._clock.now()

        def work(tx: Transaction) -> ManagerRemoval:
            account_id, person = _other_manager(tx, who, person_id, now)
            if person is None:
                conversation.release(tx, who.user_id, Flow.UNLINK)
                return ManagerRemoval(RemovalOutcome.UNKNOWN, account_id=account_id)
            if tx.devices.active_for(account_id):
                verdict = self._verification.check_proof_in(
                    tx, who, account_id, text, Flow.UNLINK, now
                )
                if verdict.result is not Result.ACCEPTED:
                    return ManagerRemoval(
                        RemovalOutcome.REFUSED, person, account_id, verdict=verdict
                    )
            conversation.release(tx, who.user_id, Flow.UNLINK)
            self._unlink(tx, who, person, now)
            return ManagerRemoval(RemovalOutcome.REMOVED, person, account_id)

        return await self._db.run(work)

    @staticmethod
    def _unlink(
        tx: Transaction, who: TelegramIdentity, person: TelegramUserLink, now: datetime
    ) -> None:
        """``person`` no longer manages the account: back to their own default account,
        their set-up or change in progress for it ended; everyone is told."""
        account_id = person.account_id
        own = default_account_id(person.user_id)
        tx.accounts.ensure(own, now)
        tx.accounts.save_link(person.user_id, own, person.username, person.display_name, now)
        leave(tx, person.user_id, account_id, who.actor, now)
        slot = tx.conversations.get(person.user_id)
        if slot is not None and slot.flow != Flow.DENY:  # an agent's deny is not the account's
            tx.conversations.delete(person.user_id, slot.flow)
        tx.audit.record(
            now,
            who.actor,
            "account_unlinked",
            account_id=account_id,
            telegram_user_id=person.user_id,
        )
        events.emit(
            tx,
            events.MANAGER_REMOVED,
            account_id,
            now,
            by=events.actor(who.actor),
            telegram_user_id=person.user_id,
            reason="removed",
        )
        detail = {"name": person.display_name, "by": who.display_name}
        tx.notices.add(account_id, "manager_removed", now, skip_user_id=who.user_id, **detail)
        tx.notices.add(own, "removed_as_manager", now, old=account_id, by=who.display_name)


def _other_manager(
    tx: Transaction, who: TelegramIdentity, person_id: int, now: datetime
) -> tuple[str, TelegramUserLink | None]:
    """(the user's account, the other person on it with this id, if there is one)."""
    account_id = account_for(tx, who, now)
    if person_id == who.user_id:
        return account_id, None
    person = tx.accounts.link_for(person_id)
    return account_id, person if person is not None and person.account_id == account_id else None


def leave(tx: Transaction, user_id: int, account_id: str, actor: str, now: datetime) -> None:
    """The user no longer manages ``account_id``: a set-up they had begun for it ends
    (its QR code and key leave the chat), so it cannot add a device there later."""
    pending = tx.enrolments.for_user(user_id)
    if pending is None or pending.account_id != account_id:
        return
    tx.enrolments.delete(pending.id)
    conversation.release(tx, user_id, Flow.ENROL)
    tx.cleanup.schedule(pending.chat_id, pending.chat_messages(), now)
    tx.audit.record(
        now,
        actor,
        "enrolment_cancelled",
        account_id=account_id,
        telegram_user_id=user_id,
        enrolment_id=pending.id,
        stage=pending.stage.value,
    )
