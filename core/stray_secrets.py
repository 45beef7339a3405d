"""Secrets where no prompt takes them: one rule for every message the bot does not consume
as a proof.

A code, a recovery code or a key typed after its prompt ran out, with nothing waiting,
into a name or a reason, or posted in a group, must leave the chat (the adapter deletes
the message when ``Sighting.remove``), and what it gave away must stop working. On a
stolen, unlocked phone a recovery code left in the chat would otherwise open the account;
in a group everyone reads it. So, in one transaction:

- a recovery code that is one of the sender's account's unused codes is voided, audited,
  and everyone who manages the account is told (how many are left, /recovery for a new
  set);
- a 6-digit code posted in a group counts its time step as used for the device it
  matches, so nobody who read it there can log in with it. In the private chat it is
  only removed: nobody else reads it before it runs out.

A key cannot be taken back here: its message is removed. The sender's account is looked
up, never created: a stranger's message in a group makes no account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core import recovery, totp
from core.accounts import TelegramIdentity
from core.clock import Clock
from core.crypto import SecretBox
from core.free_text import SecretShape, codes_in, recovery_codes_in, secret_shape
from core.recovery import RecoveryHasher
from storage.db import Database
from storage.repositories import Transaction


class Place(StrEnum):
    PRIVATE = "private"  # the sender's private chat with the bot
    GROUP = "group"  # a group: everyone in it reads the message


@dataclass(frozen=True)
class Sighting:
    shape: SecretShape | None  # what the text looks like; None: no secret, it may stay
    voided: int = 0  # recovery codes of the sender's account voided now
    left: int | None = None  # recovery codes the account has left, when some were voided
    spent_steps: int = 0  # devices whose code's time step now counts as used

    @property
    def remove(self) -> bool:
        """The message must leave the chat."""
        return self.shape is not None


class StraySecrets:
    def __init__(self, db: Database, box: SecretBox, clock: Clock, hasher: RecoveryHasher) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._hasher = hasher

    async def seen(self, who: TelegramIdentity, text: str, place: Place) -> Sighting:
        """``text`` from ``who`` reached no prompt that takes it as a proof: what it looks
        like, and what was made harmless."""
        shape = secret_shape(text)
        if shape is None:
            return Sighting(None)
        now = self._clock.now()
        return await self._db.run(lambda tx: self._defuse(tx, who, text, shape, place, now))

    def _defuse(
        self,
        tx: Transaction,
        who: TelegramIdentity,
        text: str,
        shape: SecretShape,
        place: Place,
        now: datetime,
    ) -> Sighting:
        link = tx.accounts.link_for(who.user_id)
        if link is None:
            return Sighting(shape)
        account_id = link.account_id
        voided = self._void_recovery_codes(tx, account_id, text, now)
        left = None
        if voided:
            left = tx.recovery.remaining(account_id)
            tx.audit.record(
                now,
                who.actor,
                "recovery_code_voided",
                account_id=account_id,
                telegram_user_id=who.user_id,
                place=place.value,
                voided=voided,
                left=left,
            )
            tx.notices.add(account_id, "recovery_code_voided", now, left=left)
        spent = self._spend_steps(tx, who, account_id, text, now) if place is Place.GROUP else 0
        return Sighting(shape, voided, left, spent)

    def _void_recovery_codes(
        self, tx: Transaction, account_id: str, text: str, now: datetime
    ) -> int:
        voided = 0
        for typed in recovery_codes_in(text):
            canonical = recovery.normalize(typed)
            if canonical is not None and tx.recovery.void(
                account_id, self._hasher.candidates(tx, account_id, canonical), now
            ):
                voided += 1
        return voided

    def _spend_steps(
        self, tx: Transaction, who: TelegramIdentity, account_id: str, text: str, now: datetime
    ) -> int:
        codes = codes_in(text)
        if not codes:
            return 0
        spent = 0
        for device in tx.devices.active_for(account_id):
            secret = self._box.open(
                device.secret_sealed, account_id=device.account_id, device_id=device.id
            )
            matched = (totp.matching_step(secret, code, now) for code in codes)
            steps = [step for step in matched if step is not None]
            if steps and tx.devices.spend_step(device.id, max(steps)):
                spent += 1
                tx.audit.record(
                    now,
                    who.actor,
                    "code_seen_in_group",
                    account_id=account_id,
                    telegram_user_id=who.user_id,
                    device_id=device.id,
                )
        return spent
