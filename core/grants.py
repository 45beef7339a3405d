"""Grants: what a proof allows, as rows of their own.

A current code (or a recovery code) accepted before a change leaves a grant bound to the
account and the Telegram user who gave it; the change consumes it in its own
transaction, once, within a few minutes. Nothing else (least of all a chat prompt) is
ever read as proof.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from storage.repositories import Transaction

GRANT_TTL = timedelta(minutes=10)


class Grant(StrEnum):
    RENAME = "rename"  # subject: the device
    REMOVE_LAST = "remove_last"  # subject: the device; proof given, waiting for the yes
    ADD_DEVICE = "add_device"  # a recovery code was accepted: set up a new device
    REMOVE_LOST = "remove_lost"  # a recovery code was accepted: remove a lost device


def give(
    tx: Transaction, account_id: str, user_id: int, grant: Grant, now: datetime, subject: str = ""
) -> None:
    tx.grants.issue(account_id, user_id, grant.value, subject, now, now + GRANT_TTL)


def use(
    tx: Transaction, account_id: str, user_id: int, grant: Grant, now: datetime, subject: str = ""
) -> bool:
    """Consume one live grant; False when there is none."""
    return tx.grants.consume(account_id, user_id, grant.value, subject, now)


def holds(
    tx: Transaction, account_id: str, user_id: int, grant: Grant, now: datetime, subject: str = ""
) -> bool:
    return tx.grants.holds(account_id, user_id, grant.value, subject, now)
