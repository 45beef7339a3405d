"""Self-service devices and recovery codes. Every change asks for proof first: a current
code from one of the account's devices (a stolen, unlocked phone with the chat open must
not be enough to turn 2FA off), or a recovery code when the authenticator is lost.

A proof is checked in the transaction of the change it allows; where the change comes
one message later (a new name, the second yes), the proof leaves a grant that the change
consumes (``core.grants``). The user's conversation slot moves on in the same
transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime

from core import conversation, events, grants
from core.accounts import TelegramIdentity, account_for
from core.clock import Clock
from core.conversation import Flow, Step
from core.free_text import device_name_problem
from core.grants import Grant
from core.recovery import RecoveryHasher, announce_recovery_change, looks_like_recovery_code
from core.verification import NOT_A_CODE, Result, Verdict, VerificationService
from storage.db import Database
from storage.records import Device
from storage.repositories import Transaction


@dataclass(frozen=True)
class Proof:
    """The result of asking for a code: accepted (a TOTP or recovery code) or not."""

    verdict: Verdict
    account_id: str

    @property
    def ok(self) -> bool:
        return self.verdict.result is Result.ACCEPTED


@dataclass(frozen=True)
class Removal:
    removed: Device | None
    remaining: int  # active devices left; 0 means 2FA is off now
    needs_confirmation: bool = False  # the last device: a second yes is needed
    refused: Verdict | None = None  # the proof given was not accepted; nothing changed
    unauthorised: bool = False  # no proof and no grant (a stale button): nothing changed


@dataclass(frozen=True)
class Renaming:
    device: Device | None  # renamed; None: nothing changed
    problem: str = ""  # why the name was refused
    unauthorised: bool = False  # no live grant (it ran out): a new code is needed


class DeviceService:
    def __init__(
        self, db: Database, clock: Clock, verification: VerificationService, hasher: RecoveryHasher
    ) -> None:
        self._db = db
        self._clock = clock
        self._verification = verification
        self._hasher = hasher

    async def overview(self, who: TelegramIdentity) -> tuple[str, list[Device], int]:
        """(account, active devices, recovery codes left)."""
        now = self._clock.now()

        def work(tx: Transaction) -> tuple[str, list[Device], int]:
            account_id = account_for(tx, who, now)
            return account_id, tx.devices.active_for(account_id), tx.recovery.remaining(account_id)

        return await self._db.run(work)

    async def device(self, who: TelegramIdentity, device_id: str) -> Device | None:
        now = self._clock.now()
        return await self._db.run(lambda tx: _own_device(tx, who, device_id, now))

    async def prove_for_rename(
        self, who: TelegramIdentity, device_id: str, text: str
    ) -> Proof | None:
        """The code before a rename: accepted, it grants one rename of that device and the
        flow waits for the name. None: the device is gone."""
        now = self._clock.now()

        def work(tx: Transaction) -> Proof | None:
            device = _own_device(tx, who, device_id, now)
            if device is None:
                conversation.release(tx, who.user_id, Flow.RENAME)
                return None
            verdict = self._verification.check_proof_in(
                tx, who, device.account_id, text, Flow.RENAME, now
            )
            if verdict.result is Result.ACCEPTED:
                grants.give(tx, device.account_id, who.user_id, Grant.RENAME, now, device_id)
                conversation.move(tx, who.user_id, Flow.RENAME, Step.NAME)
            return Proof(verdict, device.account_id)

        return await self._db.run(work)

    async def rename(self, who: TelegramIdentity, device_id: str, name: str) -> Renaming:
        """Rename one of the user's devices, using the grant a code left."""
        name = name.strip()
        problem = device_name_problem(name)
        if problem:
            return Renaming(None, problem)
        now = self._clock.now()

        def work(tx: Transaction) -> Renaming:
            device = _own_device(tx, who, device_id, now)
            if device is None or not grants.use(
                tx, device.account_id, who.user_id, Grant.RENAME, now, device_id
            ):
                conversation.release(tx, who.user_id, Flow.RENAME)
                return Renaming(None, unauthorised=True)
            tx.devices.rename(device_id, name)
            tx.audit.record(
                now, who.actor, "device_renamed", account_id=device.account_id, device_id=device_id
            )
            conversation.release(tx, who.user_id, Flow.RENAME)
            return Renaming(tx.devices.get(device_id))

        return await self._db.run(work)

    async def remove(
        self,
        who: TelegramIdentity,
        device_id: str,
        *,
        proof_code: str | None = None,
        confirm_last: bool = False,
    ) -> Removal:
        """Remove one of the user's devices: with a code (``proof_code``), with the grant a
        recovery code left (/lost), or, for the last device, with the second yes
        (``confirm_last``) and the grant the first step left. The last device turns 2FA off
        and only goes with that second yes (checked here, so two chats removing devices at
        once cannot both skip it)."""
        now = self._clock.now()

        def work(tx: Transaction) -> Removal:
            devices = tx.devices.active_for(account_for(tx, who, now))
            device = next((d for d in devices if d.id == device_id), None)
            active = len(devices)
            if device is None:
                conversation.release(tx, who.user_id, Flow.REMOVE)
                return Removal(None, active)
            account_id = device.account_id
            recovered = False
            if confirm_last:
                recovered = grants.use(
                    tx, account_id, who.user_id, Grant.REMOVE_LAST, now, f"{device_id}.recovered"
                )
                if not recovered and not grants.use(
                    tx, account_id, who.user_id, Grant.REMOVE_LAST, now, device_id
                ):
                    return Removal(None, active, unauthorised=True)
            elif proof_code is not None:
                verdict = self._verification.check_proof_in(
                    tx, who, account_id, proof_code, Flow.REMOVE, now
                )
                if verdict.result is not Result.ACCEPTED:
                    return Removal(None, active, refused=verdict)
            elif grants.use(tx, account_id, who.user_id, Grant.REMOVE_LOST, now):
                recovered = True
            else:
                return Removal(None, active, unauthorised=True)
            if active == 1 and not confirm_last:
                subject = f"{device_id}.recovered" if recovered else device_id
                grants.give(tx, account_id, who.user_id, Grant.REMOVE_LAST, now, subject)
                return Removal(None, active, needs_confirmation=True)
            conversation.release(tx, who.user_id, Flow.REMOVE)
            remaining = _revoke(tx, who, device, now)
            if recovered:
                announce_recovery_change(
                    tx, account_id, who, "device_removed_after_recovery", now, name=device.name
                )
            return Removal(device, remaining)

        return await self._db.run(work)

    async def new_recovery_codes(
        self, who: TelegramIdentity, proof_code: str
    ) -> tuple[Proof, list[str]]:
        """A new set, after a code, in one transaction; the old set stops working, and
        everyone else on the account is told."""
        now = self._clock.now()
        fresh = await asyncio.to_thread(self._hasher.new_set)  # off the event loop

        def work(tx: Transaction) -> tuple[Proof, list[str]]:
            account_id = account_for(tx, who, now)
            verdict = self._verification.check_proof_in(
                tx, who, account_id, proof_code, Flow.NEW_CODES, now
            )
            if verdict.result is not Result.ACCEPTED:
                return Proof(verdict, account_id), []
            conversation.release(tx, who.user_id, Flow.NEW_CODES)
            tx.recovery.replace_set(account_id, fresh.hashes, now, salt=fresh.salt)
            tx.audit.record(
                now,
                who.actor,
                "recovery_codes_regenerated",
                account_id=account_id,
                telegram_user_id=who.user_id,
            )
            tx.alerts.raise_event(
                now,
                "recovery_codes_regenerated",
                "info",
                account_id=account_id,
                telegram_user_id=who.user_id,
            )
            # The others on the account may have saved codes of the old set: void now.
            tx.notices.add(
                account_id,
                "recovery_codes_renewed",
                now,
                skip_user_id=who.user_id,
                by=who.display_name,
            )
            events.emit(
                tx,
                events.RECOVERY_CODES_RENEWED,
                account_id,
                now,
                by=events.actor(who.actor),
                codes=len(fresh.codes),
            )
            return Proof(verdict, account_id), list(fresh.codes)

        return await self._db.run(work)

    async def recover(self, who: TelegramIdentity, text: str) -> Proof:
        """/lost with a recovery code: accepted, it grants one new device and the removal
        of one lost device, for the next few minutes, with no agent involved."""
        now = self._clock.now()

        def work(tx: Transaction) -> Proof:
            account_id = account_for(tx, who, now)
            if not looks_like_recovery_code(text.strip()):
                return Proof(NOT_A_CODE, account_id)
            verdict = self._verification.check_proof_in(
                tx, who, account_id, text, Flow.RECOVER, now
            )
            if verdict.result is Result.ACCEPTED:
                conversation.release(tx, who.user_id, Flow.RECOVER)
                grants.give(tx, account_id, who.user_id, Grant.ADD_DEVICE, now)
                grants.give(tx, account_id, who.user_id, Grant.REMOVE_LOST, now)
            return Proof(verdict, account_id)

        return await self._db.run(work)


def _own_device(
    tx: Transaction, who: TelegramIdentity, device_id: str, now: datetime
) -> Device | None:
    account_id = account_for(tx, who, now)
    return next((d for d in tx.devices.active_for(account_id) if d.id == device_id), None)


def _revoke(tx: Transaction, who: TelegramIdentity, device: Device, now: datetime) -> int:
    """Revoke the device, tell the others on the account; the devices left."""
    account_id = device.account_id
    tx.devices.revoke(device.id, now)
    remaining = len(tx.devices.active_for(account_id))
    tx.audit.record(now, who.actor, "device_removed", account_id=account_id, device_id=device.id)
    tx.notices.add(account_id, "device_removed", now, skip_user_id=who.user_id, name=device.name)
    events.emit(
        tx,
        events.DEVICE_REMOVED,
        account_id,
        now,
        by=events.actor(who.actor),
        device=events.device(device.id, device.name),
        devices=remaining,
        reason="removed",
    )
    if remaining == 0:
        # The proven turn-off (a code, or a recovery code, and the second yes): the only
        # way an account that had 2FA lets logins in with the password alone again.
        state = tx.security.get(account_id)
        tx.security.save(replace(state, two_factor_required=False), now)
        tx.recovery.void_all(account_id, now)
        tx.audit.record(now, who.actor, "two_factor_turned_off", account_id=account_id)
        tx.alerts.raise_event(
            now,
            "two_factor_turned_off",
            "warning",
            account_id=account_id,
            telegram_user_id=who.user_id,
        )
    return remaining
