"""One-time enrolment links: the login system mints one for an account; the Telegram
user who opens it manages that account from then on and starts enrolment.

Only a SHA-256 hash of the token is stored: the database alone cannot open a link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.accounts import TelegramIdentity, default_account_id
from bot.clock import Clock
from storage.db import Database
from storage.records import EnrollmentLink
from storage.repositories import Transaction

TOKEN_BYTES = 24  # 192 bits; 32 URL-safe characters, within Telegram's 64 for ?start=
DEFAULT_LINK_TTL = timedelta(hours=1)


class LinkOutcome(StrEnum):
    BOUND = "bound"  # the user now manages the link's account
    CONFIRM = "confirm"  # the user manages another account: switching needs a yes
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class MintedLink:
    token: str
    account_id: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkOpening:
    outcome: LinkOutcome
    link: EnrollmentLink | None = None
    current_account: str | None = None  # what the user manages now (for CONFIRM)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def looks_like_token(text: str) -> bool:
    return 16 <= len(text) <= 64 and all(
        ch.isascii() and (ch.isalnum() or ch in "-_") for ch in text
    )


class EnrolmentLinks:
    def __init__(self, db: Database, clock: Clock, ttl: timedelta = DEFAULT_LINK_TTL) -> None:
        self._db = db
        self._clock = clock
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

    async def open(self, token: str, who: TelegramIdentity) -> LinkOpening:
        """The user opened ``t.me/<bot>?start=<token>``."""
        now = self._clock.now()

        def work(tx: Transaction) -> LinkOpening:
            link = tx.links.by_token_hash(token_hash(token)) if looks_like_token(token) else None
            problem = self._problem(link, now)
            if problem is not None:
                return LinkOpening(problem, link)
            assert link is not None
            current = tx.accounts.link_for(who.user_id)
            if (
                current is None
                or current.account_id == link.account_id
                or (
                    current.account_id == default_account_id(who.user_id)
                    and not tx.devices.active_for(current.account_id)
                )
            ):
                self._bind(tx, link, who, now)
                return LinkOpening(LinkOutcome.BOUND, link)
            tx.links.mark_opened(link.id, who.user_id)
            return LinkOpening(LinkOutcome.CONFIRM, link, current.account_id)

        return await self._db.run(work)

    async def confirm(self, link_id: str, who: TelegramIdentity) -> LinkOpening:
        """ "Switch" pressed: only by the user who opened the link, while it is still valid."""
        now = self._clock.now()

        def work(tx: Transaction) -> LinkOpening:
            link = tx.links.get(link_id)
            if link is None or link.opened_by_user_id != who.user_id:
                return LinkOpening(LinkOutcome.UNKNOWN)
            problem = self._problem(link, now)
            if problem is not None:
                return LinkOpening(problem, link)
            self._bind(tx, link, who, now)
            return LinkOpening(LinkOutcome.BOUND, link)

        return await self._db.run(work)

    @staticmethod
    def _problem(link: EnrollmentLink | None, now: datetime) -> LinkOutcome | None:
        if link is None:
            return LinkOutcome.UNKNOWN
        if link.used_at is not None:
            return LinkOutcome.USED
        if link.expires_at <= now:
            return LinkOutcome.EXPIRED
        return None

    @staticmethod
    def _bind(tx: Transaction, link: EnrollmentLink, who: TelegramIdentity, now: datetime) -> None:
        tx.links.mark_used(link.id, who.user_id, now)
        tx.accounts.ensure(link.account_id, now)
        tx.accounts.save_link(who.user_id, link.account_id, who.username, who.display_name, now)
        tx.audit.record(
            now,
            who.actor,
            "account_linked",
            account_id=link.account_id,
            telegram_user_id=who.user_id,
            link_id=link.id,
        )
