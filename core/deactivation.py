"""Lost authenticator: a user asks, a support agent decides, 2FA is off for a while.

The rules live here, shared by the chat and the API: one open request per account,
decisions are atomic (the first agent wins), approval sets a deactivation window and
revokes the lost devices, undecided requests expire. 2FA stays required through it all:
when the window ends, logins are refused (``enrollment_required``) until a new device is
set up, and everyone on the account is told. Every deadline is a column in the database,
so a restart forgets none; the periodic jobs apply what fell due while the bot was down
(``core.deactivation_deadlines``). Who counts as an agent, and what agents do besides
deciding, is the support desk's (``core.support_desk``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core import events
from core.accounts import TelegramIdentity, account_for
from core.clock import Clock
from core.deactivation_deadlines import SYSTEM_ACTOR, DeactivationDeadlines, record_event
from core.free_text import secret_problem
from core.leadership import Leadership
from core.support_desk import counts_as_agent, manages
from storage.db import Database
from storage.records import DeactivationRequest, Device, RequestStatus
from storage.repositories import Transaction

MAX_REASON = 500


class FileOutcome(StrEnum):
    FILED = "filed"
    ALREADY_OPEN = "already_open"
    NOT_ENROLLED = "not_enrolled"  # nothing to deactivate
    NEEDS_NEW_DEVICE = "needs_new_device"  # 2FA is on, no device left: /enroll, not support
    NO_SUPPORT = "no_support"  # SUPPORT_CHAT_ID is not configured
    INVALID_REASON = "invalid_reason"


class DecisionOutcome(StrEnum):
    DECIDED = "decided"
    ALREADY_DECIDED = "already_decided"  # another agent (or expiry, or withdrawal) was first
    NOT_AGENT = "not_agent"
    OWN_ACCOUNT = "own_account"
    UNKNOWN = "unknown"
    INVALID_DURATION = "invalid_duration"
    UNSAFE_REASON = "unsafe_reason"  # a deny reason shaped like a code or a key: not kept


@dataclass(frozen=True)
class FileResult:
    outcome: FileOutcome
    request: DeactivationRequest | None = None


@dataclass(frozen=True)
class Decision:
    outcome: DecisionOutcome
    request: DeactivationRequest | None = None
    revoked: tuple[Device, ...] = ()


def reason_problem(text: str) -> str:
    """Why ``text`` cannot be a request's reason, or ""."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if len(stripped) > MAX_REASON:
        return "too_long"
    # Agents read it, and a deny reason goes back to the user: never a secret.
    return secret_problem(stripped)


def duration_choices(default: timedelta, longest: timedelta) -> list[timedelta]:
    """The durations an agent is offered: a short one, the default, the longest."""
    hours = {4, 12, int(default.total_seconds() // 3600), int(longest.total_seconds() // 3600)}
    return [
        timedelta(hours=h) for h in sorted(hours) if timedelta(0) < timedelta(hours=h) <= longest
    ]


class DeactivationService(DeactivationDeadlines):
    """Requests and decisions; what falls due, and the outboxes, in the base class
    (core/deactivation_deadlines.py)."""

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
        leadership: Leadership | None = None,
    ) -> None:
        super().__init__(db, clock, waiting_alert_after=waiting_alert_after, leadership=leadership)
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
            if tx.security.get(account_id).two_factor_required:
                return FileResult(FileOutcome.NEEDS_NEW_DEVICE)
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
            # Whoever else manages the account hears of it, and may withdraw it.
            tx.notices.add(
                account_id,
                "deactivation_requested",
                now,
                skip_user_id=who.user_id,
                id=request.id,
                name=who.display_name,
                reason=request.reason,
            )
            events.emit(
                tx,
                events.DEACTIVATION_REQUESTED,
                account_id,
                now,
                by=events.actor(who.actor),
                request_id=request.id,
            )
            return FileResult(FileOutcome.FILED, request)

        return await self._db.run(work)

    async def withdraw(self, who: TelegramIdentity, request_id: int) -> DeactivationRequest | None:
        """Someone who manages the account (the requester or another person on it) takes
        back its open request; the others are told. None if the request is not their
        account's or not open."""
        now = self._clock.now()

        def work(tx: Transaction) -> DeactivationRequest | None:
            request = tx.requests.get(request_id)
            if request is None or request.account_id != account_for(tx, who, now):
                return None
            if not tx.requests.decide(request_id, RequestStatus.WITHDRAWN, now):
                return None
            record_event(tx, now, who.actor, "deactivation_withdrawn", "info", request)
            tx.notices.add(
                request.account_id,
                "deactivation_withdrawn",
                now,
                skip_user_id=who.user_id,
                id=request.id,
                by=who.display_name,
            )
            return tx.requests.get(request_id)

        return await self._db.run(work)

    # -------------------------------------------------------------- decisions

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
        if reason and secret_problem(reason):
            return Decision(DecisionOutcome.UNSAFE_REASON)

        def work(tx: Transaction) -> Decision:
            request = tx.requests.get(request_id)
            if request is None:
                return Decision(DecisionOutcome.UNKNOWN)
            if not counts_as_agent(tx, self._configured_agents, agent.user_id):
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
            events.emit(
                tx,
                events.DEACTIVATION_APPROVED if approve else events.DEACTIVATION_DENIED,
                request.account_id,
                now,
                by=events.actor(agent.actor, agent=True),
                request_id=request.id,
                **({"until": until} if until is not None else {}),
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
        """2FA off until ``until``; the lost devices revoked; locks cleared (support stepped
        in). 2FA stays required: the window ends in ``enrollment_required``, not in logins
        with the password alone."""
        state = tx.security.get(request.account_id)
        tx.security.save(
            replace(
                state,
                deactivated_until=until,
                consecutive_failures=0,
                locked_until=None,
                hard_locked_at=None,
                # It had devices, so 2FA was on (and stays required): when the window
                # ends, logins are refused until a new device is set up.
                two_factor_required=True,
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
            events.emit(
                tx,
                events.DEVICE_REMOVED,
                request.account_id,
                now,
                by=events.actor(agent.actor, agent=True),
                device=events.device(device.id, device.name),
                devices=0,
                reason="revoked",
                request_id=request.id,
            )
        return revoked
