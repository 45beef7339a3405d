"""Enrolment: from a fresh secret to an active device, one step at a time.

    (PROOF ->) CODE -> NAME -> CONFIRM -> the device is active

The step lives in one place: the user's conversation slot (flow ``enrol``). The pending
enrolment (its secret sealed) holds what the steps gathered: the accepted code's time
step, the device name. Both are in the database, so a restart resumes at the same step:
every method re-reads the slot inside its transaction, checks the step, and moves the
slot on together with the change. Transaction bodies are plain functions run on the
database thread (``Database.run``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from core import conversation, grants, totp
from core.accounts import TelegramIdentity, account_for
from core.activation import activate, audit_enrolment
from core.clock import Clock
from core.conversation import Busy, Flow, Step
from core.crypto import SecretBox
from core.enrolment_results import (
    AccountStatus,
    Activation,
    EnrolmentStarted,
    Outcome,
    ProofNeeded,
    StepResult,
)
from core.enrolment_steps import SYSTEM_ACTOR, advance, end, live, open_secret
from core.leadership import Leadership
from core.metrics import Metrics
from core.recovery import RecoveryHasher, RecoverySet, announce_recovery_change
from core.verification import Result, VerificationService
from storage.db import Database
from storage.records import PendingEnrolment
from storage.repositories import Transaction

_ANY_STEP = frozenset({Step.CODE, Step.NAME, Step.CONFIRM})


class EnrolmentService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        clock: Clock,
        *,
        issuer: str,
        ttl: timedelta = timedelta(minutes=10),
        max_attempts: int = 5,
        metrics: Metrics | None = None,
        verifier: VerificationService | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._metrics = metrics
        # Expiry ends enrolments and says so to their users: only while this bot may send.
        self._sending = leadership or Leadership(db)
        self._verifier = verifier or VerificationService(db, box, clock)
        self._hasher = RecoveryHasher(box)
        self._db = db
        self._box = box
        self._clock = clock
        self._issuer = issuer
        self._ttl = ttl
        self._max_attempts = max_attempts

    @property
    def max_attempts(self) -> int:
        return self._max_attempts

    def _uri(self, enrolment: PendingEnrolment, secret: str) -> str:
        return totp.provisioning_uri(secret, account=enrolment.account_id, issuer=self._issuer)

    # ------------------------------------------------------------ inside a transaction

    def _create(
        self,
        tx: Transaction,
        who: TelegramIdentity,
        chat_id: int,
        now: datetime,
        proof_code: str | None,
        after_message_id: int | None,
    ) -> EnrolmentStarted | ProofNeeded | Busy:
        account_id = account_for(tx, who, now)
        # The QR will most likely be the next message after the one that asked for it.
        expected = None if after_message_id is None else after_message_id + 1
        existing, _ = live(tx, who.user_id, now)
        if existing is not None and existing.account_id != account_id:
            # The user switched accounts (an enrolment link): the old set-up is void.
            end(tx, existing, now, "enrolment_cancelled", SYSTEM_ACTOR)
            existing = None
        if existing is not None:
            secret = open_secret(self._box, existing)
            tx.enrolments.update(existing.id, qr_expected_message_id=expected)
            step = conversation.step_of(tx, who.user_id, Flow.ENROL) or Step.CODE
            uri = self._uri(existing, secret)
            return EnrolmentStarted(existing, secret, uri, resumed=True, step=step)
        needs_proof = bool(tx.devices.active_for(account_id))
        slot = conversation.claim(
            tx, who.user_id, chat_id, Flow.ENROL, Step.PROOF if needs_proof else Step.CODE, now
        )
        if isinstance(slot, Busy):
            return slot
        if needs_proof:
            refused = self._prove(tx, who, account_id, proof_code, now)
            if refused is not None:
                return refused
        enrolment_id = uuid.uuid4().hex
        secret = totp.generate_secret()
        enrolment = PendingEnrolment(
            id=enrolment_id,
            telegram_user_id=who.user_id,
            chat_id=chat_id,
            account_id=account_id,
            secret_sealed=self._box.seal(secret, account_id=account_id, device_id=enrolment_id),
            attempts_left=self._max_attempts,
            accepted_step=None,
            device_name=None,
            created_at=now,
            expires_at=now + self._ttl,
            qr_message_id=None,
            key_message_id=None,
            code_message_id=None,
            qr_expected_message_id=expected,
        )
        tx.enrolments.create(enrolment)
        conversation.move(
            tx,
            who.user_id,
            Flow.ENROL,
            Step.CODE,
            data={"enrolment": enrolment_id},
            expires_at=enrolment.expires_at,
        )
        audit_enrolment(tx, enrolment, now, "enrolment_started")
        return EnrolmentStarted(enrolment, secret, self._uri(enrolment, secret), resumed=False)

    def _prove(
        self,
        tx: Transaction,
        who: TelegramIdentity,
        account_id: str,
        proof_code: str | None,
        now: datetime,
    ) -> ProofNeeded | None:
        """Another device for an account that has one: a current code (or a recovery
        code) now, or a recovery code accepted moments ago in /lost (a grant). None: go."""
        if proof_code is None:
            if grants.use(tx, account_id, who.user_id, grants.Grant.ADD_DEVICE, now):
                announce_recovery_change(tx, account_id, who, "enrolment_after_recovery", now)
                return None
            return ProofNeeded(account_id)
        verdict = self._verifier.check_proof_in(tx, who, account_id, proof_code, Flow.ENROL, now)
        if verdict.result is Result.ACCEPTED:
            return None
        return ProofNeeded(account_id, verdict)

    def _activate(
        self, tx: Transaction, user_id: int, enrolment_id: str, now: datetime, fresh: RecoverySet
    ) -> Activation:
        enrolment, expired = live(tx, user_id, now)
        if expired:
            return Activation(Outcome.EXPIRED)
        if enrolment is None or enrolment.id != enrolment_id:
            return Activation(Outcome.NO_ENROLMENT)
        if conversation.step_of(tx, user_id, Flow.ENROL) is not Step.CONFIRM:
            return Activation(Outcome.WRONG_STEP, enrolment=enrolment)
        end(tx, enrolment, now, "device_activated", f"tg:{user_id}")
        device, count, codes = activate(tx, enrolment, user_id, now, fresh)
        return Activation(Outcome.ACCEPTED, device, count, enrolment, codes)

    def _record_message(
        self, tx: Transaction, enrolment_id: str, chat_id: int, kind: str, message_id: int
    ) -> None:
        now = self._clock.now()
        row = tx.enrolments.get(enrolment_id)
        if row is None:
            tx.cleanup.schedule(chat_id, [message_id], now)
            return
        previous = {"qr": row.qr_message_id, "key": row.key_message_id}.get(kind)
        if previous is not None and previous != message_id:
            tx.cleanup.schedule(row.chat_id, [previous], now)
        tx.enrolments.record_message(enrolment_id, kind, message_id)

    # ------------------------------------------------------------------- the public API

    async def start(
        self,
        who: TelegramIdentity,
        chat_id: int,
        *,
        proof_code: str | None = None,
        after_message_id: int | None = None,
    ) -> EnrolmentStarted | ProofNeeded | Busy:
        """Begin an enrolment, or resume the one in progress (same secret, same step).

        For an account that already has devices, ``proof_code`` (a current code or a
        recovery code, checked as a login would) must come first, unless the user had a
        recovery code accepted moments ago (/lost). ``Busy``: another flow waits for the
        user's answer; nothing started. ``after_message_id``: the user's message that asked
        for it (the QR will most likely be the next one in the chat).
        """
        now = self._clock.now()
        started = await self._db.run(
            lambda tx: self._create(tx, who, chat_id, now, proof_code, after_message_id)
        )
        if (
            self._metrics is not None
            and isinstance(started, EnrolmentStarted)
            and not started.resumed
        ):
            self._metrics.enrolments_started.inc()
        return started

    async def pending(self, user_id: int) -> StepResult:
        """The user's pending enrolment (``ACCEPTED``), ``EXPIRED`` or ``NO_ENROLMENT``."""
        now = self._clock.now()
        enrolment, expired = await self._db.run(lambda tx: live(tx, user_id, now))
        if expired:
            return StepResult(Outcome.EXPIRED)
        if enrolment is None:
            return StepResult(Outcome.NO_ENROLMENT)
        return StepResult(Outcome.ACCEPTED, enrolment, enrolment.attempts_left)

    async def record_message(
        self, enrolment_id: str, chat_id: int, kind: str, message_id: int
    ) -> None:
        """Remember a chat message ("qr", "key" or "code") to delete when the enrolment ends.

        A message that belongs to an enrolment already gone is deleted right away.
        """
        await self._db.run(
            lambda tx: self._record_message(tx, enrolment_id, chat_id, kind, message_id)
        )

    async def manual_key(
        self, user_id: int, enrolment_id: str, *, expected_message_id: int | None = None
    ) -> str | None:
        """The secret for typing by hand, if this button belongs to the live enrolment.

        ``expected_message_id``: the id the message that will show it most likely gets,
        kept before it is sent, so the end of the enrolment deletes that message even if
        its real id never comes back (``record_message``). A key sent before whose id never
        came back is deleted now: the user is shown a new one."""
        now = self._clock.now()

        def work(tx: Transaction) -> str | None:
            enrolment, _ = live(tx, user_id, now)
            if enrolment is None or enrolment.id != enrolment_id:
                return None
            if expected_message_id is not None:
                earlier = enrolment.key_expected_message_id
                if earlier is not None:
                    tx.cleanup.schedule(enrolment.chat_id, [earlier], now)
                tx.enrolments.update(enrolment.id, key_expected_message_id=expected_message_id)
            return open_secret(self._box, enrolment)

        return await self._db.run(work)

    async def submit(
        self, user_id: int, text: str | None, message_id: int | None = None
    ) -> StepResult:
        """The user's message while an enrolment is pending: the input for the step the
        slot is at (``submit_code`` and ``submit_name`` for a caller that routes by step).

        One transaction: the step is read and moved on together. ``text`` is None for a
        message without text (a sticker, a photo): ``NOT_TEXT``, nothing changes.
        ``message_id`` is the user's message: an accepted code leaves the chat with the
        QR code when the enrolment ends.
        """
        return await self._submit(user_id, text, message_id, _ANY_STEP)

    async def submit_code(
        self, user_id: int, text: str | None, message_id: int | None = None
    ) -> StepResult:
        """CODE: the code from the app. ``ACCEPTED``: the slot moved on to NAME."""
        return await self._submit(user_id, text, message_id, frozenset({Step.CODE}))

    async def submit_name(self, user_id: int, text: str | None) -> StepResult:
        """NAME (or CONFIRM, replacing the name): ``ACCEPTED``: the slot is at CONFIRM."""
        return await self._submit(user_id, text, None, frozenset({Step.NAME, Step.CONFIRM}))

    async def _submit(
        self, user_id: int, text: str | None, message_id: int | None, expected: frozenset[Step]
    ) -> StepResult:
        now = self._clock.now()
        return await self._db.run(
            lambda tx: advance(tx, self._box, user_id, text, message_id, now, expected)
        )

    async def complete(self, user_id: int, enrolment_id: str) -> Activation:
        """ "Complete activation": the device becomes active in one transaction."""
        now = self._clock.now()
        # The first device brings recovery codes: hashed here, off the event loop and
        # outside the transaction (the transaction decides whether they are handed out).
        fresh = await asyncio.to_thread(self._hasher.new_set)
        activation = await self._db.run(
            lambda tx: self._activate(tx, user_id, enrolment_id, now, fresh)
        )
        if self._metrics is not None and activation.outcome is Outcome.ACCEPTED:
            self._metrics.enrolments_completed.inc()
        return activation

    async def cancel(self, user_id: int, actor: str | None = None) -> PendingEnrolment | None:
        """End the pending enrolment, if any; its messages leave the chat."""
        now = self._clock.now()

        def work(tx: Transaction) -> PendingEnrolment | None:
            enrolment, _ = live(tx, user_id, now)
            if enrolment is not None:
                end(tx, enrolment, now, "enrolment_cancelled", actor or f"tg:{user_id}")
            return enrolment

        return await self._db.run(work)

    async def expire_due(self) -> list[PendingEnrolment]:
        """End every enrolment past its deadline (also those that ran out while we were down)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[PendingEnrolment]:
            ended = tx.enrolments.expired(now)
            for enrolment in ended:
                end(tx, enrolment, now, "enrolment_expired", SYSTEM_ACTOR)
            return ended

        return await self._sending.run(work)

    async def status(self, who: TelegramIdentity) -> AccountStatus:
        now = self._clock.now()

        def work(tx: Transaction) -> AccountStatus:
            account_id = account_for(tx, who, now)
            enrolment, _ = live(tx, who.user_id, now)
            security, devices = tx.security.with_devices(account_id)
            until = security.deactivated_until
            return AccountStatus(
                account_id,
                devices,
                enrolment,
                until if until is not None and until > now else None,
                security.two_factor_required,
            )

        return await self._db.run(work)
