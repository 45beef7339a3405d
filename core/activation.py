"""Complete activation: a pending enrolment becomes an active device.

Runs inside the transaction that ends the enrolment, so the device, the end of a
temporary deactivation, the notices, the alert and the first recovery codes land
together or not at all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from core import events
from core.recovery import RecoverySet
from storage.records import Device, PendingEnrolment
from storage.repositories import Transaction


def activate(
    tx: Transaction,
    enrolment: PendingEnrolment,
    user_id: int,
    now: datetime,
    fresh: RecoverySet,
) -> tuple[Device, int, tuple[str, ...]]:
    """(the new device, active devices now, recovery codes handed out: the first device
    brings a set, shown once: ``fresh``, made before the transaction, since hashing takes
    a while)."""
    assert enrolment.device_name is not None
    device = tx.devices.add(
        enrolment.id,
        enrolment.account_id,
        enrolment.device_name,
        enrolment.secret_sealed,
        created_by_user_id=user_id,
        # The confirmation code is spent: it must not open a login too.
        last_used_step=enrolment.accepted_step,
        now=now,
    )
    # From now on every login checks a code against this account: its security row is
    # there from the start, so a check only ever updates it. (On PostgreSQL, a check
    # that inserts it lands in the index pages that concurrent checks read, and at
    # SERIALIZABLE that aborts some of them for nothing.)
    tx.security.ensure(enrolment.account_id, now)
    state = tx.security.get(enrolment.account_id)
    # 2FA is required from now on, until a proven turn-off (core.devices): a deactivation
    # that revokes the devices never makes logins password-only for good.
    turned_on = replace(state, two_factor_required=True)
    if state.deactivated_until is not None and state.deactivated_until > now:
        # A new device ends a temporary deactivation early: 2FA is back on.
        turned_on = replace(turned_on, deactivated_until=None)
        audit_enrolment(tx, enrolment, now, "deactivation_ended_early")
        events.emit(
            tx,
            events.DEACTIVATION_ENDED,
            enrolment.account_id,
            now,
            by=events.actor(f"tg:{user_id}"),
            reason="new_device",
        )
    if turned_on != state:
        tx.security.save(turned_on, now)
    if not state.two_factor_required:
        audit_enrolment(tx, enrolment, now, "two_factor_turned_on")
    count = len(tx.devices.active_for(enrolment.account_id))
    events.emit(
        tx,
        events.DEVICE_ADDED,
        enrolment.account_id,
        now,
        by=events.actor(f"tg:{user_id}"),
        device=events.device(device.id, device.name),
        devices=count,
    )
    tx.notices.add(
        enrolment.account_id, "device_added", now, skip_user_id=user_id, name=device.name
    )
    if count > 1:
        tx.alerts.raise_event(
            now,
            "device_added",
            "info",
            account_id=enrolment.account_id,
            telegram_user_id=user_id,
            devices=count,
        )
    codes: tuple[str, ...] = ()
    if count == 1 and tx.recovery.remaining(enrolment.account_id) == 0:
        codes = fresh.codes
        tx.recovery.replace_set(enrolment.account_id, fresh.hashes, now, salt=fresh.salt)
        audit_enrolment(tx, enrolment, now, "recovery_codes_issued", count=len(codes))
    return device, count, codes


def audit_enrolment(
    tx: Transaction,
    enrolment: PendingEnrolment,
    now: datetime,
    action: str,
    actor: str | None = None,
    **detail: object,
) -> None:
    """An audit entry about an enrolment: by its user unless ``actor`` says otherwise."""
    tx.audit.record(
        now,
        actor or f"tg:{enrolment.telegram_user_id}",
        action,
        account_id=enrolment.account_id,
        telegram_user_id=enrolment.telegram_user_id,
        enrolment_id=enrolment.id,
        **detail,
    )
