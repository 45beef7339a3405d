"""Lost authenticator: a user asks, a support agent decides, 2FA is off for a while.

The rules live here, shared by the chat and the API: one open request per account,
decisions are atomic (the first agent wins), approval sets a deactivation window and
revokes the lost devices, undecided requests expire. Every deadline is a column in
the database, so a restart forgets none; the periodic jobs apply what fell due while
the bot was down.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.accounts import TelegramIdentity, account_for, account_id_problem
from bot.clock import Clock
from storage.db import Database
from storage.records import (
    AccountSecurity,
    DeactivationRequest,
    Device,
    RequestStatus,
    TelegramUserLink,
)
from storage.repositories import Transaction

MAX_REASON = 500
REMIND_BEFORE = timedelta(hours=3)
SYSTEM_ACTOR = "system"
_TELEGRAM_USER_ID = re.compile(r"[0-9]{1,15}")  # positive, ASCII digits only


class FileOutcome(StrEnum):
    FILED = "filed"
    ALREADY_OPEN = "already_open"
    NOT_ENROLLED = "not_enrolled"  # nothing to deactivate
    NO_SUPPORT = "no_support"  # SUPPORT_CHAT_ID is not configured
    INVALID_REASON = "invalid_reason"


class DecisionOutcome(StrEnum):
    DECIDED = "decided"
    ALREADY_DECIDED = "already_decided"  # another agent (or expiry, or withdrawal) was first
    NOT_AGENT = "not_agent"
    OWN_ACCOUNT = "own_account"
    UNKNOWN = "unknown"
    INVALID_DURATION = "invalid_duration"


class UnlockOutcome(StrEnum):
    CLEARED = "cleared"
    NOT_LOCKED = "not_locked"
    OWN_ACCOUNT = "own_account"


@dataclass(frozen=True)
class FileResult:
    outcome: FileOutcome
    request: DeactivationRequest | None = None


@dataclass(frozen=True)
class Decision:
    outcome: DecisionOutcome
    request: DeactivationRequest | None = None
    revoked: tuple[Device, ...] = ()


@dataclass(frozen=True)
class AccountLookup:
    """/lookup for an agent: the account, its people, devices, locks and requests."""

    account_id: str
    users: list[TelegramUserLink]
    devices: list[Device]
    state: AccountSecurity
    failed_checks_24h: int
    requests: list[DeactivationRequest]


@dataclass(frozen=True)
class AgentView:
    """What an agent needs to decide: one place that assembles it."""

    request: DeactivationRequest
    devices: list[Device]
    failed_checks_24h: int
    earlier: list[DeactivationRequest]


def reason_problem(text: str) -> str:
    """Why ``text`` cannot be a request's reason, or ""."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if len(stripped) > MAX_REASON:
        return "too_long"
    return ""


def telegram_user_id(text: str) -> int | None:
    """``text`` as a Telegram user id, or None (also for other scripts' digits, like "²")."""
    return int(text) if _TELEGRAM_USER_ID.fullmatch(text) else None


def lookup_problem(query: str) -> str:
    """Why /lookup cannot look ``query`` up, or "": an account id, or a Telegram user id."""
    problem = account_id_problem(query)
    if problem:
        return problem
    if query.isdigit() and telegram_user_id(query) is None:
        return "a number that is not a Telegram user id"
    return ""


def manages(tx: Transaction, user_id: int, account_id: str) -> bool:
    """Whether this Telegram user manages the account: support never acts on its own."""
    link = tx.accounts.link_for(user_id)
    return link is not None and link.account_id == account_id


def duration_choices(default: timedelta, longest: timedelta) -> list[timedelta]:
    """The durations an agent is offered: a short one, the default, the longest."""
    hours = {4, 12, int(default.total_seconds() // 3600), int(longest.total_seconds() // 3600)}
    return [
        timedelta(hours=h) for h in sorted(hours) if timedelta(0) < timedelta(hours=h) <= longest
    ]


def record_event(
    tx: Transaction,
    now: datetime,
    actor: str,
    action: str,
    severity: str,
    request: DeactivationRequest,
    **detail: object,
) -> None:
    """Every step of a request is audited and raises an alert event, with the same facts."""
    who = {"account_id": request.account_id, "telegram_user_id": request.telegram_user_id}
    tx.audit.record(now, actor, action, **who, request_id=request.id, **detail)
    tx.alerts.raise_event(now, action, severity, **who, request_id=request.id, **detail)


class DeactivationService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        support_enabled: bool,
        configured_agents: frozenset[int],
        default_duration: timedelta,
        longest_duration: timedelta,
        request_ttl: timedelta,
        waiting_alert_after: timedelta = timedelta(minutes=30),
    ) -> None:
        self._waiting_alert_after = waiting_alert_after
        # One sync of the support chat and the users at a time (see handlers.support.sync).
        self.sync_lock = asyncio.Lock()
        self._db = db
        self._clock = clock
        self.support_enabled = support_enabled
        self._configured_agents = configured_agents
        self.default_duration = default_duration
        self.longest_duration = longest_duration
        self._request_ttl = request_ttl

    @property
    def durations(self) -> list[timedelta]:
        return duration_choices(self.default_duration, self.longest_duration)

    # ------------------------------------------------------------------ users

    async def open_request(self, who: TelegramIdentity) -> tuple[str, DeactivationRequest | None]:
        """The user's account and its open request, if any."""
        now = self._clock.now()

        def work(tx: Transaction) -> tuple[str, DeactivationRequest | None]:
            account_id = account_for(tx, who, now)
            return account_id, tx.requests.open_for(account_id)

        return await self._db.run(work)

    async def can_file(self, who: TelegramIdentity) -> FileResult:
        """Whether /lost may go on to ask for a reason (changes nothing)."""
        now = self._clock.now()

        def work(tx: Transaction) -> FileResult:
            account_id = account_for(tx, who, now)
            return self._precheck(tx, account_id) or FileResult(FileOutcome.FILED)

        return await self._db.run(work)

    def _precheck(self, tx: Transaction, account_id: str) -> FileResult | None:
        if not self.support_enabled:
            return FileResult(FileOutcome.NO_SUPPORT)
        existing = tx.requests.open_for(account_id)
        if existing is not None:
            return FileResult(FileOutcome.ALREADY_OPEN, existing)
        if not tx.devices.active_for(account_id):
            return FileResult(FileOutcome.NOT_ENROLLED)
        return None

    async def file(self, who: TelegramIdentity, chat_id: int, reason: str) -> FileResult:
        """File a deactivation request; one open request per account."""
        now = self._clock.now()
        if reason_problem(reason):
            return FileResult(FileOutcome.INVALID_REASON)

        def work(tx: Transaction) -> FileResult:
            account_id = account_for(tx, who, now)
            refused = self._precheck(tx, account_id)
            if refused is not None:
                return refused
            request = tx.requests.create(
                account_id,
                who.user_id,
                chat_id,
                who.username,
                who.display_name,
                reason.strip(),
                now,
                now + self._request_ttl,
            )
            record_event(tx, now, who.actor, "deactivation_requested", "info", request)
            return FileResult(FileOutcome.FILED, request)

        return await self._db.run(work)

    async def withdraw(self, who: TelegramIdentity, request_id: int) -> DeactivationRequest | None:
        """The user takes back their open request; None if it is not theirs or not open."""
        now = self._clock.now()

        def work(tx: Transaction) -> DeactivationRequest | None:
            request = tx.requests.get(request_id)
            if request is None or request.account_id != account_for(tx, who, now):
                return None
            if not tx.requests.decide(request_id, RequestStatus.WITHDRAWN, now):
                return None
            record_event(tx, now, who.actor, "deactivation_withdrawn", "info", request)
            return tx.requests.get(request_id)

        return await self._db.run(work)

    # ----------------------------------------------------------------- agents

    async def is_agent(self, user_id: int) -> bool:
        if user_id in self._configured_agents:
            return True
        return await self._db.run(lambda tx: tx.agents.contains(user_id))

    async def decide(
        self,
        request_id: int,
        agent: TelegramIdentity,
        *,
        approve: bool,
        duration: timedelta | None = None,
        reason: str | None = None,
    ) -> Decision:
        """Approve (for ``duration``) or deny (with an optional reason). The first agent wins."""
        now = self._clock.now()
        if approve and (duration is None or not timedelta(0) < duration <= self.longest_duration):
            return Decision(DecisionOutcome.INVALID_DURATION)

        def work(tx: Transaction) -> Decision:
            request = tx.requests.get(request_id)
            if request is None:
                return Decision(DecisionOutcome.UNKNOWN)
            if agent.user_id not in self._configured_agents and not tx.agents.contains(
                agent.user_id
            ):
                return Decision(DecisionOutcome.NOT_AGENT, request)
            if request.telegram_user_id == agent.user_id or manages(
                tx, agent.user_id, request.account_id
            ):
                return Decision(DecisionOutcome.OWN_ACCOUNT, request)
            if request.status is RequestStatus.OPEN and request.expires_at <= now:
                # Past its deadline: it expires now, whatever the sweep's timing.
                if tx.requests.decide(request_id, RequestStatus.EXPIRED, now):
                    record_event(tx, now, SYSTEM_ACTOR, "deactivation_expired", "warning", request)
                return Decision(DecisionOutcome.ALREADY_DECIDED, tx.requests.get(request_id))
            status = RequestStatus.APPROVED if approve else RequestStatus.DENIED
            until = now + duration if approve and duration is not None else None
            decided = tx.requests.decide(
                request_id,
                status,
                now,
                agent_id=agent.user_id,
                agent_name=agent.display_name or agent.username or str(agent.user_id),
                reason=(reason or "").strip()[:MAX_REASON] or None,
                deactivated_until=until,
            )
            if not decided:
                return Decision(DecisionOutcome.ALREADY_DECIDED, request)
            revoked: list[Device] = []
            if until is not None:
                revoked = self._deactivate(tx, request, until, agent, now)
            record_event(
                tx,
                now,
                agent.actor,
                f"deactivation_{status.value}",
                "warning" if approve else "info",
                request,
                agent_id=agent.user_id,
            )
            return Decision(DecisionOutcome.DECIDED, tx.requests.get(request_id), tuple(revoked))

        return await self._db.run(work)

    @staticmethod
    def _deactivate(
        tx: Transaction,
        request: DeactivationRequest,
        until: datetime,
        agent: TelegramIdentity,
        now: datetime,
    ) -> list[Device]:
        """2FA off until ``until``; the lost devices revoked; locks cleared (support stepped in)."""
        state = tx.security.get(request.account_id)
        tx.security.save(
            replace(
                state,
                deactivated_until=until,
                consecutive_failures=0,
                locked_until=None,
                hard_locked_at=None,
            ),
            now,
        )
        revoked = tx.devices.revoke_all(request.account_id, now)
        # The codes went with the lost phone as often as not: the new device brings new ones.
        tx.recovery.void_all(request.account_id, now)
        for device in revoked:
            # The requester hears of it in the approval; other chats of the account here.
            tx.notices.add(
                request.account_id,
                "device_revoked",
                now,
                skip_user_id=request.telegram_user_id,
                name=device.name,
            )
            tx.audit.record(
                now,
                agent.actor,
                "device_revoked",
                account_id=request.account_id,
                device_id=device.id,
                request_id=request.id,
            )
        return revoked

    async def lookup(self, query: str) -> AccountLookup | None:
        """An account by its id, or by the Telegram user id that manages it; None when
        nothing is known (or the query has a ``lookup_problem``)."""
        now = self._clock.now()
        if lookup_problem(query):
            return None
        user_id = telegram_user_id(query)

        def work(tx: Transaction) -> AccountLookup | None:
            account_id = query
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
            )

        return await self._db.run(work)

    async def clear_lock(self, account_id: str, agent: TelegramIdentity) -> UnlockOutcome:
        """Support steps in: the lock (also after 100 failures) and the count are cleared;
        never by an agent on their own account."""
        now = self._clock.now()

        def work(tx: Transaction) -> UnlockOutcome:
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
            return UnlockOutcome.CLEARED

        return await self._db.run(work)

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
            return AgentView(request, devices, failed, earlier)

        return await self._db.run(work)

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

    # ----------------------------------------------------- deadlines and outboxes

    async def expire_due(self) -> list[DeactivationRequest]:
        """Undecided requests past their deadline expire (also those that fell due while down)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            expired = []
            for request in tx.requests.expired_open(now):
                if tx.requests.decide(request.id, RequestStatus.EXPIRED, now):
                    record_event(tx, now, SYSTEM_ACTOR, "deactivation_expired", "warning", request)
                    expired.append(request)
            return expired

        return await self._db.run(work)

    async def alert_waiting(self) -> list[DeactivationRequest]:
        """Raise one alert per open request that waits longer than the SLA for a decision."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            waiting = tx.requests.waiting_longer_than(now - self._waiting_alert_after)
            for request in waiting:
                tx.requests.mark_sla_alerted(request.id, now)
                tx.alerts.raise_event(
                    now,
                    "request_waiting",
                    "warning",
                    account_id=request.account_id,
                    telegram_user_id=request.telegram_user_id,
                    request_id=request.id,
                    waiting_minutes=int((now - request.created_at).total_seconds() // 60),
                )
            return waiting

        return await self._db.run(work)

    async def open_count(self) -> int:
        return await self._db.run(lambda tx: tx.requests.count_open())

    async def unposted(self) -> list[DeactivationRequest]:
        return await self._db.run(lambda tx: tx.requests.unposted())

    async def record_post(self, request_id: int, chat_id: int, message_id: int) -> None:
        await self._db.run(
            lambda tx: tx.requests.set_support_message(request_id, chat_id, message_id)
        )

    async def support_outdated(self) -> list[DeactivationRequest]:
        return await self._db.run(lambda tx: tx.requests.support_outdated())

    async def users_to_tell(self) -> list[DeactivationRequest]:
        return await self._db.run(lambda tx: tx.requests.users_to_tell())

    async def mark_support_shown(self, request_id: int, status: RequestStatus) -> None:
        await self._db.run(lambda tx: tx.requests.mark_support_shown(request_id, status))

    async def mark_user_told(self, request_id: int, status: RequestStatus) -> None:
        await self._db.run(lambda tx: tx.requests.mark_user_told(request_id, status))

    async def mark_reminded(self, request_id: int) -> None:
        now = self._clock.now()
        await self._db.run(lambda tx: tx.requests.mark_reminded(request_id, now))

    async def end_windows(self) -> list[DeactivationRequest]:
        """Approved windows whose time ran out: audited, alerted, and the account's people
        are told that 2FA is required again (also for windows that ended while down)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            ended = tx.requests.windows_ended(now)
            for request in ended:
                tx.requests.mark_window_ended(request.id, now)
                current = tx.security.get(request.account_id).deactivated_until
                if current is None or current != request.deactivated_until:
                    continue  # a new device ended it early (audited then), or a newer window
                record_event(tx, now, SYSTEM_ACTOR, "deactivation_ended", "info", request)
                tx.notices.add(request.account_id, "deactivation_ended", now)
            return ended

        return await self._db.run(work)

    async def reminders_due(self) -> list[DeactivationRequest]:
        """Approved windows ending within REMIND_BEFORE, where no new device was set up."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            candidates = tx.requests.reminders_due(now, now + REMIND_BEFORE)
            return [r for r in candidates if not tx.devices.active_for(r.account_id)]

        return await self._db.run(work)
