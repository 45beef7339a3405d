"""Checking a code, as a login does: one place for the replay, lockout and deactivation rules.

The chat (/check) and the HTTP API (POST /v1/verify) both call ``verify``. Each check
is one transaction on the database thread, so two checks of the same code can never
both pass (RFC 6238 section 5.2), and every check is audited.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core import conversation, events, recovery, totp
from core.accounts import TelegramIdentity, account_for
from core.alerts import note_failure
from core.clients import client_name
from core.clock import Clock
from core.conversation import Flow
from core.crypto import SecretBox
from core.metrics import Metrics
from core.recovery import RecoveryHasher
from storage.db import Database
from storage.records import AccountSecurity, Device
from storage.repositories import Transaction

_SIX_DIGITS = re.compile(r"[0-9]{6}")
FAILURES_PER_LOCK = 5
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(hours=24)
# NIST SP 800-63B 5.2.2: at most 100 consecutive failed attempts on one account.
HARD_STOP_FAILURES = 100


class Result(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    LOCKED = "locked"
    NOT_ENROLLED = "not_enrolled"  # 2FA never turned on, or turned off with proof
    DEACTIVATED = "deactivated"
    # 2FA is on but no device can answer (the lost ones were revoked by an approved
    # deactivation whose window has ended): the login is refused, whatever the code.
    ENROLLMENT_REQUIRED = "enrollment_required"


@dataclass(frozen=True)
class Verdict:
    result: Result
    method: str | None = None  # "totp" when accepted
    device: Device | None = None
    tries_left: int = 0  # before the next lock, when rejected
    locked_until: datetime | None = None
    hard_locked: bool = False  # 100 failures: only support can clear it
    deactivated_until: datetime | None = None
    recovery_codes_left: int | None = None  # after a recovery code was used

    def retry_after(self, now: datetime) -> int | None:
        """Seconds until a lock ends (rounded up); None for a hard lock or no lock."""
        if self.locked_until is None:
            return None
        return max(0, math.ceil((self.locked_until - now).total_seconds()))


def is_code_shaped(code: str) -> bool:
    """What a login may send as a code: six digits, or a recovery code."""
    return bool(_SIX_DIGITS.fullmatch(code)) or recovery.normalize(code) is not None


def proof_code(text: str) -> str | None:
    """A proof before a change as typed: a 6-digit code (without its separators) or a
    recovery code; None for anything else."""
    text = text.strip()
    return totp.parse_code(text).code or (text if recovery.normalize(text) is not None else None)


# The verdict on a proof that is not a code at all: refused, and not counted.
NOT_A_CODE = Verdict(Result.REJECTED, tries_left=0)


def lock_duration(lock_number: int) -> timedelta:
    """15 minutes for the first lock, doubling with each further one, at most 24 hours."""
    return min(FIRST_LOCK * 2 ** (lock_number - 1), LONGEST_LOCK)


def lock_verdict(state: AccountSecurity, now: datetime) -> Verdict | None:
    """The account's lock, if one holds now: a hard lock (support must clear it) or a
    timed one. None: not locked."""
    if state.hard_locked_at is not None:
        return Verdict(Result.LOCKED, hard_locked=True)
    if state.locked_until is not None and state.locked_until > now:
        return Verdict(Result.LOCKED, locked_until=state.locked_until)
    return None


def gate(state: AccountSecurity, devices: list[Device], now: datetime) -> Verdict | None:
    """What holds before any second factor is looked at, in this order: a deactivation
    window, no device (never enrolled, or 2FA required with none left), a lock. None: a
    second factor may be tried. Codes and login approvals both pass through here."""
    if state.deactivated_until is not None and state.deactivated_until > now:
        return Verdict(Result.DEACTIVATED, deactivated_until=state.deactivated_until)
    if not devices:
        # Not counted as a failure: no code could pass. A recovery code neither: the
        # set was voided with the devices, and a new device brings a new one.
        if state.two_factor_required:
            return Verdict(Result.ENROLLMENT_REQUIRED)
        return Verdict(Result.NOT_ENROLLED)
    # During a lock everything is refused and nothing counted: the lock says enough.
    return lock_verdict(state, now)


class VerificationService:
    def __init__(
        self, db: Database, box: SecretBox, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._metrics = metrics
        self._hasher = RecoveryHasher(box)

    def _count(self, verdict: Verdict, channel: str, actor: str = "") -> Verdict:
        if self._metrics is not None:
            client = client_name(actor) or ""
            self._metrics.verifications.labels(verdict.result.value, channel, client).inc()
        return verdict

    async def verify(
        self, account_id: str, code: str, *, actor: str, telegram_user_id: int | None = None
    ) -> Verdict:
        """Check a six-digit code (or a recovery code) for the account, as a login would.
        ``actor`` is who asks: an API client's ``ApiClient.actor`` names the client in the
        audit row and the metrics.

        Never logs the code."""
        now = self._clock.now()
        verdict = await self._db.run(
            lambda tx: self.check_in(tx, account_id, code, actor, telegram_user_id, now)
        )
        return self._count(verdict, "api" if telegram_user_id is None else "chat", actor)

    async def verify_for(self, who: TelegramIdentity, code: str) -> tuple[str, Verdict]:
        """/check: the code against the account this Telegram user manages; (account,
        verdict). A wrong code leaves /check waiting for another; any other verdict ends
        its wait, in the same transaction."""
        now = self._clock.now()

        def work(tx: Transaction) -> tuple[str, Verdict]:
            account_id = account_for(tx, who, now)
            verdict = self.check_in(tx, account_id, code, who.actor, who.user_id, now)
            if verdict.result is not Result.REJECTED:
                conversation.release(tx, who.user_id, Flow.CHECK)
            return account_id, verdict

        account_id, verdict = await self._db.run(work)
        return account_id, self._count(verdict, "chat")

    def check_in(
        self,
        tx: Transaction,
        account_id: str,
        code: str,
        actor: str,
        telegram_user_id: int | None,
        now: datetime,
    ) -> Verdict:
        verdict = self._decide(tx, account_id, code, now, actor)
        detail: dict[str, object] = {"result": verdict.result.value}
        if verdict.device is not None:
            detail["device_id"] = verdict.device.id
        tx.audit.record(
            now,
            actor,
            "code_checked",
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            **detail,
        )
        if verdict.result is Result.REJECTED:
            note_failure(tx, telegram_user_id, now)
        return verdict

    def count_failure_in(
        self,
        tx: Transaction,
        account_id: str,
        actor: str,
        telegram_user_id: int | None,
        now: datetime,
        *,
        method: str,
    ) -> Verdict:
        """A second factor that failed without a code (a wrong number pressed on a login
        approval, ``method`` "challenge"): counted toward the lock as a wrong code is, and
        audited as a failed check. During a lock nothing is counted, as for a code."""
        state = tx.security.get(account_id)
        verdict = lock_verdict(state, now) or self._fail(tx, state, now, actor)
        tx.audit.record(
            now,
            actor,
            "code_checked",
            account_id=account_id,
            telegram_user_id=telegram_user_id,
            result=verdict.result.value,
            method=method,
        )
        return verdict

    def check_proof_in(
        self,
        tx: Transaction,
        who: TelegramIdentity,
        account_id: str,
        text: str,
        flow: Flow,
        now: datetime,
    ) -> Verdict:
        """A proof before a change (``proof_code``), checked as a login would: it counts
        toward the lock, and a lock ends the flow's wait (no code can be given for a
        while). Text that is no code is refused without a check."""
        code = proof_code(text)
        if code is None:
            return NOT_A_CODE
        verdict = self.check_in(tx, account_id, code, who.actor, who.user_id, now)
        if verdict.result is Result.LOCKED:
            conversation.release(tx, who.user_id, flow)
        return verdict

    def _decide(
        self, tx: Transaction, account_id: str, code: str, now: datetime, actor: str
    ) -> Verdict:
        state, devices = tx.security.with_devices(account_id)
        gated = gate(state, devices, now)
        if gated is not None:
            return gated
        if _SIX_DIGITS.fullmatch(code):
            matched = self._match(devices, code, now)
            if matched is not None:
                device, step = matched
                tx.devices.mark_used(device.id, step, now)
                self._reset(tx, state, now)
                return Verdict(Result.ACCEPTED, method="totp", device=device)
        else:
            canonical = recovery.normalize(code)
            if canonical is not None and tx.recovery.use(
                account_id, self._hasher.candidates(tx, account_id, canonical), now
            ):
                self._reset(tx, state, now)
                left = tx.recovery.remaining(account_id)
                tx.audit.record(
                    now, "system", "recovery_code_used", account_id=account_id, left=left
                )
                tx.alerts.raise_event(
                    now, "recovery_code_used", "info", account_id=account_id, left=left
                )
                tx.notices.add(account_id, "recovery_code_used", now, left=left)
                events.emit(
                    tx,
                    events.RECOVERY_CODE_USED,
                    account_id,
                    now,
                    by=events.actor(actor),
                    recovery_codes_left=left,
                )
                return Verdict(Result.ACCEPTED, method="recovery_code", recovery_codes_left=left)
        return self._fail(tx, state, now, actor)

    @staticmethod
    def _reset(tx: Transaction, state: AccountSecurity, now: datetime) -> None:
        if state.consecutive_failures or state.locked_until is not None:
            tx.security.save(replace(state, consecutive_failures=0, locked_until=None), now)

    def _match(self, devices: list[Device], code: str, now: datetime) -> tuple[Device, int] | None:
        """The device and time step this code belongs to, if not spent yet.

        Every device is checked whatever matches, so the time taken does not depend on
        which device (if any) the code belongs to.
        """
        found: tuple[Device, int] | None = None
        for device in devices:
            secret = self._box.open(
                device.secret_sealed, account_id=device.account_id, device_id=device.id
            )
            step = totp.matching_step(secret, code, now)
            fresh = step is not None and (
                device.last_used_step is None or step > device.last_used_step
            )
            if fresh and found is None:
                assert step is not None
                found = (device, step)
        return found

    def _fail(self, tx: Transaction, state: AccountSecurity, now: datetime, actor: str) -> Verdict:
        failures = state.consecutive_failures + 1
        account_id = state.account_id
        if failures >= HARD_STOP_FAILURES:
            tx.security.save(replace(state, consecutive_failures=failures, hard_locked_at=now), now)
            tx.audit.record(now, "system", "account_hard_locked", account_id=account_id)
            tx.alerts.raise_event(
                now, "account_hard_locked", "critical", account_id=account_id, failures=failures
            )
            events.emit(
                tx,
                events.ACCOUNT_LOCKED,
                account_id,
                now,
                by=events.actor(actor),
                failures=failures,
                until=None,
                hard=True,
            )
            return Verdict(Result.LOCKED, hard_locked=True)
        if failures % FAILURES_PER_LOCK == 0:
            until = now + lock_duration(failures // FAILURES_PER_LOCK)
            tx.security.save(replace(state, consecutive_failures=failures, locked_until=until), now)
            tx.audit.record(
                now, "system", "account_locked", account_id=account_id, until=until.isoformat()
            )
            tx.alerts.raise_event(
                now,
                "account_locked",
                "warning",
                account_id=account_id,
                failures=failures,
                until=until.isoformat(),
            )
            events.emit(
                tx,
                events.ACCOUNT_LOCKED,
                account_id,
                now,
                by=events.actor(actor),
                failures=failures,
                until=until,
                hard=False,
            )
            return Verdict(Result.LOCKED, locked_until=until)
        # (A direct constructor: dataclasses.replace costs more than the statement here.)
        tx.security.save(
            AccountSecurity(
                state.account_id,
                failures,
                state.locked_until,
                state.hard_locked_at,
                state.deactivated_until,
                state.two_factor_required,
            ),
            now,
        )
        return Verdict(Result.REJECTED, tries_left=FAILURES_PER_LOCK - failures % FAILURES_PER_LOCK)
