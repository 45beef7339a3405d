"""Who manages an account from the chat: one-time enrolment links bind a Telegram user to
an account (one person on an account removing another: core/managers.py).

The login system mints a link for an account; the Telegram user who opens it manages that
account from then on. For an account that has 2FA (an active device), the link alone is
not enough: whoever holds it must also give a current code or a recovery code, checked
as a login would, in the transaction that binds them (the link is used once: a
conditional update). Everyone who already manages the account is told. A link opened in
a group, or whose switch the user declined, is voided: it never binds anyone.

Only a SHA-256 hash of the token is stored: the database alone cannot open a link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core import conversation, events
from core.accounts import TelegramIdentity, account_for, default_account_id
from core.clock import Clock
from core.conversation import Busy, Flow, Step
from core.managers import AccountManagers, leave

# The chat imports a removal's outcomes from here, beside a link's.
from core.managers import ManagerRemoval as ManagerRemoval
from core.managers import RemovalOutcome as RemovalOutcome
from core.verification import Result, Verdict, VerificationService
from storage.db import Database
from storage.records import Conversation, EnrollmentLink
from storage.repositories import Transaction

TOKEN_BYTES = 24  # 192 bits; 32 URL-safe characters, within Telegram's 64 for ?start=
DEFAULT_LINK_TTL = timedelta(hours=1)


class LinkOutcome(StrEnum):
    BOUND = "bound"  # the user now manages the link's account
    CONFIRM = "confirm"  # the user manages another account: switching needs a yes
    PROOF = "proof"  # the account has 2FA: the user's slot waits for a code
    REFUSED = "refused"  # the code given was not accepted (``verdict``); nothing changed
    BUSY = "busy"  # another flow waits for the user's answer (``waiting``); nothing changed
    KEPT = "kept"  # the switch was declined: the link is void
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    VOID = "void"


@dataclass(frozen=True)
class MintedLink:
    token: str
    account_id: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkOpening:
    outcome: LinkOutcome
    link: EnrollmentLink | None = None
    current_account: str | None = None  # what the user manages now (CONFIRM, KEPT)
    verdict: Verdict | None = None  # REFUSED
    waiting: Conversation | None = None  # BUSY
    proved: bool = False  # BOUND with a code: the account has 2FA already


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def looks_like_token(text: str) -> bool:
    return 16 <= len(text) <= 64 and all(
        ch.isascii() and (ch.isalnum() or ch in "-_") for ch in text
    )


class EnrolmentLinks(AccountManagers):
    """Enrolment links; and, as the chat reaches both through it, the account's people
    (``AccountManagers``, core/managers.py)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        verification: VerificationService,
        ttl: timedelta = DEFAULT_LINK_TTL,
    ) -> None:
        super().__init__(db, clock, verification)
        self._ttl = ttl

    async def mint(self, account_id: str, actor: str = "api") -> MintedLink:
        now = self._clock.now()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + self._ttl

        def work(tx: Transaction) -> None:
            tx.accounts.ensure(account_id, now)
            link_id = secrets.token_hex(8)
            tx.links.create(link_id, token_hash(token), account_id, now, expires_at)
            tx.audit.record(
                now, actor, "enrollment_link_created", account_id=account_id, link_id=link_id
            )

        await self._db.run(work)
        return MintedLink(token, account_id, expires_at)

    # ------------------------------------------------------------------ opening a link

    async def open(self, token: str, who: TelegramIdentity, chat_id: int) -> LinkOpening:
        """The user opened ``t.me/<bot>?start=<token>`` in their private chat."""
        now = self._clock.now()

        def work(tx: Transaction) -> LinkOpening:
            link = tx.links.by_token_hash(token_hash(token)) if looks_like_token(token) else None
            problem = _problem(link, now)
            if problem is not None:
                return LinkOpening(problem, link)
            assert link is not None
            tx.links.mark_opened(link.id, who.user_id)
            current = tx.accounts.link_for(who.user_id)
            if current is not None and current.account_id == link.account_id:
                self._bind(tx, link, who, now, proof="already_managed")
                return LinkOpening(LinkOutcome.BOUND, link)
            if current is not None and not (
                current.account_id == default_account_id(who.user_id)
                and not tx.devices.active_for(current.account_id)
            ):
                return LinkOpening(LinkOutcome.CONFIRM, link, current.account_id)
            return self._proceed(tx, link, who, chat_id, now)

        return await self._db.run(work)

    async def proceed(self, link_id: str, who: TelegramIdentity, chat_id: int) -> LinkOpening:
        """ "Switch" pressed (or the link's flow taken up again): only by the user who
        opened the link, while it is still valid. Binds, or asks for a code first."""
        now = self._clock.now()

        def work(tx: Transaction) -> LinkOpening:
            link = _opened_by(tx, link_id, who)
            if link is None:
                return LinkOpening(LinkOutcome.UNKNOWN)
            problem = _problem(link, now)
            if problem is not None:
                return LinkOpening(problem, link)
            return self._proceed(tx, link, who, chat_id, now)

        return await self._db.run(work)

    async def keep(self, link_id: str, who: TelegramIdentity) -> LinkOpening:
        """ "Keep the current account": the link is void, nothing else changes."""
        now = self._clock.now()

        def work(tx: Transaction) -> LinkOpening:
            link = _opened_by(tx, link_id, who)
            if link is None or not self._void(tx, link, who.actor, now, "switch_declined"):
                return LinkOpening(LinkOutcome.UNKNOWN)
            return LinkOpening(LinkOutcome.KEPT, link, account_for(tx, who, now))

        return await self._db.run(work)

    async def prove(self, link_id: str, who: TelegramIdentity, text: str) -> LinkOpening:
        """The code asked for before binding to an account with 2FA: accepted, the user
        manages the account, in the same transaction; the slot's wait ends."""
        now = self._clock.now()

        def work(tx: Transaction) -> LinkOpening:
            link = _opened_by(tx, link_id, who)
            problem = _problem(link, now) if link is not None else LinkOutcome.UNKNOWN
            if problem is not None:
                conversation.release(tx, who.user_id, Flow.LINK)
                return LinkOpening(problem, link)
            assert link is not None
            proved = bool(tx.devices.active_for(link.account_id))
            if proved:
                verdict = self._verification.check_proof_in(
                    tx, who, link.account_id, text, Flow.LINK, now
                )
                if verdict.result is not Result.ACCEPTED:
                    return LinkOpening(LinkOutcome.REFUSED, link, verdict=verdict)
            conversation.release(tx, who.user_id, Flow.LINK)
            if not self._bind(tx, link, who, now, proof="code" if proved else "none"):
                return LinkOpening(LinkOutcome.USED, link)
            return LinkOpening(LinkOutcome.BOUND, link, proved=proved)

        return await self._db.run(work)

    async def stop(self, link_id: str, who: TelegramIdentity) -> str | None:
        """The user ended the wait for the code (/cancel, or another flow instead): the
        link is void. The account it was for, or None if it was no longer valid."""
        now = self._clock.now()

        def work(tx: Transaction) -> str | None:
            conversation.release(tx, who.user_id, Flow.LINK)
            link = _opened_by(tx, link_id, who)
            if link is None or not self._void(tx, link, who.actor, now, "stopped"):
                return None
            return link.account_id

        return await self._db.run(work)

    async def void_seen(self, token: str, who: TelegramIdentity) -> bool:
        """A link was posted where others could read it (a group): it never binds anyone.
        True when a valid link was voided."""
        if not looks_like_token(token):
            return False
        now = self._clock.now()

        def work(tx: Transaction) -> bool:
            link = tx.links.by_token_hash(token_hash(token))
            if link is None or _problem(link, now) is not None:
                return False
            return self._void(tx, link, who.actor, now, "seen_in_group")

        return await self._db.run(work)

    # ------------------------------------------------------------ inside a transaction

    def _proceed(
        self,
        tx: Transaction,
        link: EnrollmentLink,
        who: TelegramIdentity,
        chat_id: int,
        now: datetime,
    ) -> LinkOpening:
        """Bind now, or (for an account with 2FA) make the user's slot wait for a code."""
        if not tx.devices.active_for(link.account_id):
            if not self._bind(tx, link, who, now, proof="none"):
                return LinkOpening(LinkOutcome.USED, link)
            return LinkOpening(LinkOutcome.BOUND, link)
        slot = conversation.claim(
            tx, who.user_id, chat_id, Flow.LINK, Step.PROOF, now, data={"link": link.id}
        )
        if isinstance(slot, Busy):
            return LinkOpening(LinkOutcome.BUSY, link, waiting=slot.waiting)
        return LinkOpening(LinkOutcome.PROOF, link)

    @staticmethod
    def _bind(
        tx: Transaction, link: EnrollmentLink, who: TelegramIdentity, now: datetime, proof: str
    ) -> bool:
        """Use the link (once) and make the user manage its account; everyone who already
        does is told. False: the link was used or voided in the meantime."""
        if not tx.links.mark_used(link.id, who.user_id, now):
            return False
        account_id = link.account_id
        previous = tx.accounts.link_for(who.user_id)
        others = [u for u in tx.accounts.users_of(account_id) if u.user_id != who.user_id]
        tx.accounts.ensure(account_id, now)
        tx.accounts.save_link(who.user_id, account_id, who.username, who.display_name, now)
        if previous is not None and previous.account_id != account_id:
            leave(tx, who.user_id, previous.account_id, who.actor, now)
            if previous.account_id != default_account_id(who.user_id):
                events.emit(
                    tx,
                    events.MANAGER_REMOVED,
                    previous.account_id,
                    now,
                    by=events.actor(who.actor),
                    telegram_user_id=who.user_id,
                    reason="switched",
                )
        if previous is None or previous.account_id != account_id:
            events.emit(
                tx,
                events.MANAGER_ADDED,
                account_id,
                now,
                by=events.actor(who.actor),
                telegram_user_id=who.user_id,
                proof=proof,
            )
        tx.audit.record(
            now,
            who.actor,
            "account_linked",
            account_id=account_id,
            telegram_user_id=who.user_id,
            link_id=link.id,
            proof=proof,
        )
        if others and (previous is None or previous.account_id != account_id):
            tx.notices.add(
                account_id,
                "manager_added",
                now,
                skip_user_id=who.user_id,
                name=who.display_name,
                username=f" @{who.username}" if who.username else "",
                user_id=who.user_id,
            )
        return True

    @staticmethod
    def _void(tx: Transaction, link: EnrollmentLink, actor: str, now: datetime, why: str) -> bool:
        if not tx.links.void(link.id, now):
            return False
        tx.audit.record(
            now,
            actor,
            "enrollment_link_voided",
            account_id=link.account_id,
            link_id=link.id,
            reason=why,
        )
        return True


def _problem(link: EnrollmentLink | None, now: datetime) -> LinkOutcome | None:
    if link is None:
        return LinkOutcome.UNKNOWN
    if link.voided_at is not None:
        return LinkOutcome.VOID
    if link.used_at is not None:
        return LinkOutcome.USED
    if link.expires_at <= now:
        return LinkOutcome.EXPIRED
    return None


def _opened_by(tx: Transaction, link_id: str, who: TelegramIdentity) -> EnrollmentLink | None:
    """The link, if this user is the one who opened it (a button or a slot refers to it)."""
    link = tx.links.get(link_id)
    return link if link is not None and link.opened_by_user_id == who.user_id else None
