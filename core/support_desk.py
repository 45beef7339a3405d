"""The support desk: what agents do besides deciding a request. Who is an agent (from
SUPPORT_AGENT_IDS, or added by an admin with /agents), the queue of open requests, the
view of a request an agent decides on, /lookup of an account and /unlock of its lock.

The decisions themselves (approve, deny) are in ``core.deactivation``; the rules both
share, who counts as an agent and that no agent acts on their own account, are here.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core import events
from core.accounts import TelegramIdentity
from core.clients import client_name
from core.clock import Clock
from core.identifiers import InvalidIdentifier, normalise_account_id
from storage.db import Database
from storage.records import (
    AccountSecurity,
    AuditEntry,
    DeactivationRequest,
    Device,
    RequestStatus,
    TelegramUserLink,
)
from storage.repositories import Transaction

_TELEGRAM_USER_ID = re.compile(r"[0-9]{1,15}")  # positive, ASCII digits only
RECENT_CHECKS_SHOWN = 5


class UnlockOutcome(StrEnum):
    CLEARED = "cleared"
    NOT_LOCKED = "not_locked"
    OWN_ACCOUNT = "own_account"
    NOT_AGENT = "not_agent"
    NOT_AN_ACCOUNT = "not_an_account"  # no account can have this id (control characters...)


@dataclass(frozen=True)
class RecentCheck:
    """A code check as support sees it: when, the result, and who asked: an API client
    (``client``), a Telegram user in the chat (``telegram_user_id``), or neither (the
    API before clients had names)."""

    at: datetime
    result: str
    client: str | None
    telegram_user_id: int | None

    @classmethod
    def of(cls, entry: AuditEntry) -> RecentCheck:
        result = json.loads(entry.detail).get("result", "")
        return cls(entry.at, str(result), client_name(entry.actor), entry.telegram_user_id)


@dataclass(frozen=True)
class AccountLookup:
    """/lookup for an agent: the account, its people, devices, locks, requests and its
    last code checks (newest first)."""

    account_id: str
    users: list[TelegramUserLink]
    devices: list[Device]
    state: AccountSecurity
    failed_checks_24h: int
    requests: list[DeactivationRequest]
    recent_checks: list[RecentCheck] = field(default_factory=list)

    @property
    def needs_new_device(self) -> bool:
        """2FA is on but no device can answer (after a deactivation window): every login
        is refused until the user sets up a new one."""
        return self.state.two_factor_required and not self.devices


@dataclass(frozen=True)
class AgentView:
    """What an agent needs to decide: one place that assembles it."""

    request: DeactivationRequest
    devices: list[Device]
    failed_checks_24h: int
    earlier: list[DeactivationRequest]
    requester: TelegramUserLink | None = None  # what the requester manages now, since when


def telegram_user_id(text: str) -> int | None:
    """``text`` as a Telegram user id, or None (also for other scripts' digits, like "²")."""
    return int(text) if _TELEGRAM_USER_ID.fullmatch(text) else None


def lookup_problem(query: str) -> str:
    """Why /lookup cannot look ``query`` up, or "": a number must be a Telegram user id,
    anything else an account id as the API takes it (core/identifiers.py)."""
    if query.isdigit() and telegram_user_id(query) is None:
        return "a number that is not a Telegram user id"
    if telegram_user_id(query) is None:
        try:
            normalise_account_id(query)
        except InvalidIdentifier as exc:
            return exc.message
    return ""


def _account_id(text: str) -> str | None:
    """What an agent typed as the account id the API stores (NFC), or None if no account
    can have it."""
    try:
        return normalise_account_id(text)
    except InvalidIdentifier:
        return None


def counts_as_agent(tx: Transaction, configured: frozenset[int], user_id: int) -> bool:
    """An agent from configuration, or one an admin added."""
    return user_id in configured or tx.agents.contains(user_id)


def manages(tx: Transaction, user_id: int, account_id: str) -> bool:
    """Whether this Telegram user manages the account: support never acts on its own."""
    link = tx.accounts.link_for(user_id)
    return link is not None and link.account_id == account_id


class SupportDesk:
    def __init__(self, db: Database, clock: Clock, *, configured_agents: frozenset[int]) -> None:
        self._db = db
        self._clock = clock
        self._configured_agents = configured_agents

    # ----------------------------------------------------------------- agents

    async def is_agent(self, user_id: int) -> bool:
        if user_id in self._configured_agents:  # no database round trip for these
            return True
        return await self._db.run(lambda tx: tx.agents.contains(user_id))

    async def agents(self) -> tuple[frozenset[int], list[int]]:
        """(agents from configuration, agents added by admins)."""
        return self._configured_agents, await self._db.run(lambda tx: tx.agents.all())

    async def add_agent(self, user_id: int, admin: TelegramIdentity) -> bool:
        now = self._clock.now()

        def work(tx: Transaction) -> bool:
            added = tx.agents.add(user_id, admin.user_id, now)
            if added:
                tx.audit.record(now, admin.actor, "agent_added", agent_id=user_id)
            return added

        return await self._db.run(work)

    async def remove_agent(self, user_id: int, admin: TelegramIdentity) -> bool:
        now = self._clock.now()

        def work(tx: Transaction) -> bool:
            removed = tx.agents.remove(user_id)
            if removed:
                tx.audit.record(now, admin.actor, "agent_removed", agent_id=user_id)
            return removed

        return await self._db.run(work)

    # ------------------------------------------------------ requests for agents

    async def queue(self) -> list[DeactivationRequest]:
        """Open requests, oldest first."""
        return await self._db.run(lambda tx: tx.requests.open_requests())

    async def agent_view(self, request_id: int) -> AgentView | None:
        now = self._clock.now()

        def work(tx: Transaction) -> AgentView | None:
            request = tx.requests.get(request_id)
            if request is None:
                return None
            failed = tx.audit.failed_checks_since(request.account_id, now - timedelta(hours=24))
            earlier = [r for r in tx.requests.history(request.account_id) if r.id != request_id]
            if request.status is RequestStatus.APPROVED and request.decided_at is not None:
                # What the agent decided about: the devices that approval revoked.
                devices = tx.devices.revoked_at(request.account_id, request.decided_at)
            else:
                devices = tx.devices.active_for(request.account_id)
            requester = tx.accounts.link_for(request.telegram_user_id)
            return AgentView(request, devices, failed, earlier, requester)

        return await self._db.run(work)

    # -------------------------------------------------------------- accounts

    async def lookup(self, query: str) -> AccountLookup | None:
        """An account by its id, or by the Telegram user id that manages it; None when
        nothing is known (or the query has a ``lookup_problem``)."""
        now = self._clock.now()
        if lookup_problem(query):
            return None
        user_id = telegram_user_id(query)

        def work(tx: Transaction) -> AccountLookup | None:
            account_id = unicodedata.normalize("NFC", query)  # as the API stores it
            if user_id is not None and (link := tx.accounts.link_for(user_id)) is not None:
                account_id = link.account_id
            users = tx.accounts.users_of(account_id)
            devices = tx.devices.active_for(account_id)
            requests = tx.requests.history(account_id)
            if not users and not devices and not requests:
                return None
            return AccountLookup(
                account_id,
                users,
                devices,
                tx.security.get(account_id),
                tx.audit.failed_checks_since(account_id, now - timedelta(hours=24)),
                requests,
                [
                    RecentCheck.of(e)
                    for e in tx.audit.recent_checks(account_id, RECENT_CHECKS_SHOWN)
                ],
            )

        return await self._db.run(work)

    async def clear_lock(self, typed: str, agent: TelegramIdentity) -> UnlockOutcome:
        """Support steps in: the lock (also after 100 failures) and the count are cleared;
        only by an agent, never on their own account. ``typed`` is taken as the API takes
        an account id (NFC)."""
        now = self._clock.now()
        account_id = _account_id(typed)

        def work(tx: Transaction) -> UnlockOutcome:
            if not counts_as_agent(tx, self._configured_agents, agent.user_id):
                return UnlockOutcome.NOT_AGENT
            if account_id is None:
                return UnlockOutcome.NOT_AN_ACCOUNT
            if manages(tx, agent.user_id, account_id):
                return UnlockOutcome.OWN_ACCOUNT
            state = tx.security.get(account_id)
            if not (state.consecutive_failures or state.locked_until or state.hard_locked_at):
                return UnlockOutcome.NOT_LOCKED
            tx.security.save(
                replace(state, consecutive_failures=0, locked_until=None, hard_locked_at=None),
                now,
            )
            tx.audit.record(now, agent.actor, "lock_cleared", account_id=account_id)
            tx.alerts.raise_event(
                now, "lock_cleared", "info", account_id=account_id, agent_id=agent.user_id
            )
            events.emit(
                tx,
                events.ACCOUNT_UNLOCKED,
                account_id,
                now,
                by=events.actor(agent.actor, agent=True),
            )
            return UnlockOutcome.CLEARED

        return await self._db.run(work)
