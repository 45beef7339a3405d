"""Self-service devices and recovery codes. Every change asks for proof first: a current
code from one of the account's devices (a stolen, unlocked phone with the chat open must
not be enough to turn 2FA off), or a recovery code when the authenticator is lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot import totp
from bot.accounts import TelegramIdentity, account_for
from bot.clock import Clock
from bot.enrolment import device_name_problem
from bot.recovery import RecoveryHasher
from bot.verification import Result, Verdict, VerificationService
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
    needs_confirmation: bool = False  # the last device: only with confirm_last


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

    async def prove(self, who: TelegramIdentity, text: str, *, allow_recovery: bool) -> Proof:
        """Check a code as a login would (it counts toward the lockout)."""
        parsed = totp.parse_code(text)
        code = parsed.code if parsed.code is not None else (text.strip() if allow_recovery else "")
        now = self._clock.now()

        def work(tx: Transaction) -> Proof:
            account_id = account_for(tx, who, now)
            if not code:
                return Proof(Verdict(Result.REJECTED, tries_left=0), account_id)
            verdict = self._verification.check_in(tx, account_id, code, who.actor, who.user_id, now)
            return Proof(verdict, account_id)

        return await self._db.run(work)

    async def rename(self, who: TelegramIdentity, device_id: str, name: str) -> Device | None:
        """Rename one of the user's devices (after a proof); None if the name or device is bad."""
        name = name.strip()
        if device_name_problem(name):
            return None
        now = self._clock.now()

        def work(tx: Transaction) -> Device | None:
            device = self._own_device(tx, who, device_id, now)
            if device is None or not tx.devices.rename(device_id, name):
                return None
            tx.audit.record(
                now, who.actor, "device_renamed", account_id=device.account_id, device_id=device_id
            )
            return tx.devices.get(device_id)

        return await self._db.run(work)

    async def remove(
        self, who: TelegramIdentity, device_id: str, *, confirm_last: bool = False
    ) -> Removal:
        """Remove one of the user's devices (after a proof). The last one turns 2FA off,
        and only goes with an explicit second confirmation (checked in this transaction,
        so two chats removing devices at once cannot both skip it)."""
        now = self._clock.now()

        def work(tx: Transaction) -> Removal:
            device = self._own_device(tx, who, device_id, now)
            active = len(tx.devices.active_for(account_for(tx, who, now)))
            if device is None:
                return Removal(None, active)
            if active == 1 and not confirm_last:
                return Removal(None, active, needs_confirmation=True)
            if not tx.devices.revoke(device_id, now):
                return Removal(None, active)
            remaining = len(tx.devices.active_for(device.account_id))
            tx.audit.record(
                now, who.actor, "device_removed", account_id=device.account_id, device_id=device_id
            )
            tx.notices.add(
                device.account_id, "device_removed", now, skip_user_id=who.user_id, name=device.name
            )
            if remaining == 0:
                tx.recovery.void_all(device.account_id, now)
                tx.audit.record(
                    now, who.actor, "two_factor_turned_off", account_id=device.account_id
                )
                tx.alerts.raise_event(
                    now,
                    "two_factor_turned_off",
                    "warning",
                    account_id=device.account_id,
                    telegram_user_id=who.user_id,
                )
            return Removal(device, remaining)

        return await self._db.run(work)

    async def device(self, who: TelegramIdentity, device_id: str) -> Device | None:
        now = self._clock.now()
        return await self._db.run(lambda tx: self._own_device(tx, who, device_id, now))

    async def new_recovery_codes(self, who: TelegramIdentity) -> list[str]:
        """A new set (after a proof); the old set stops working."""
        now = self._clock.now()
        codes, hashes = self._hasher.new_set()

        def work(tx: Transaction) -> None:
            account_id = account_for(tx, who, now)
            tx.recovery.replace_set(account_id, hashes, now)
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

        await self._db.run(work)
        return codes

    @staticmethod
    def _own_device(
        tx: Transaction, who: TelegramIdentity, device_id: str, now: datetime
    ) -> Device | None:
        account_id = account_for(tx, who, now)
        return next((d for d in tx.devices.active_for(account_id) if d.id == device_id), None)
