"""Events for the login system and the SIEM: what happened to an account, written in the
transaction of the change (an outbox, like the alerts), delivered as signed webhooks
(core/webhooks.py).

``emit`` is called by the core wherever a change happens, inside that change's
transaction: a change that rolls back emits nothing, and one that commits cannot lose
its event. It writes the event once, with its body as it will be sent, and one waiting
delivery per endpoint that subscribes to the type, a disabled one included (its
deliveries are held until ``webhooks enable``: a receiver loses nothing); with no such
endpoint it writes nothing.

The body's ``data`` names the account, its ``seq`` (1, 2, 3 ... per account, so a
receiver can order them), who did it (``actor``) and when (UTC), and the facts of the
type (a device's id and name, until when). It never holds a code, a secret, a token or
an otpauth URI: each caller passes named facts, never free text a user typed.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from core.clients import CLIENT_ACTOR_PREFIX
from storage.repositories import Transaction

DEVICE_ADDED = "device.added"
DEVICE_REMOVED = "device.removed"
ACCOUNT_LOCKED = "account.locked"
ACCOUNT_UNLOCKED = "account.unlocked"
DEACTIVATION_REQUESTED = "deactivation.requested"
DEACTIVATION_APPROVED = "deactivation.approved"
DEACTIVATION_DENIED = "deactivation.denied"
DEACTIVATION_ENDED = "deactivation.ended"
RECOVERY_CODE_USED = "recovery_code.used"
RECOVERY_CODES_RENEWED = "recovery_codes.renewed"
MANAGER_ADDED = "manager.added"
MANAGER_REMOVED = "manager.removed"
# Emitted by the login approvals in the chat (core/challenges.py).
CHALLENGE_DECLINED = "challenge.declined"
CHALLENGE_REPORTED = "challenge.reported"  # "This wasn't me"

EVENT_TYPES = (
    DEVICE_ADDED,
    DEVICE_REMOVED,
    ACCOUNT_LOCKED,
    ACCOUNT_UNLOCKED,
    DEACTIVATION_REQUESTED,
    DEACTIVATION_APPROVED,
    DEACTIVATION_DENIED,
    DEACTIVATION_ENDED,
    RECOVERY_CODE_USED,
    RECOVERY_CODES_RENEWED,
    MANAGER_ADDED,
    MANAGER_REMOVED,
    CHALLENGE_DECLINED,
    CHALLENGE_REPORTED,
)

MESSAGE_ID_BYTES = 16


def utc(moment: datetime) -> str:
    """A time as the bodies carry it: ISO 8601 in UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def actor(audit_actor: str, *, agent: bool = False) -> dict[str, Any]:
    """Who did it, from how the audit log names them: ``tg:<id>`` is a Telegram user (a
    support agent when ``agent``), ``system`` the bot itself, anything else an API
    client (``api:<name>`` in the audit log: named by its name here)."""
    if audit_actor.startswith("tg:") and audit_actor[3:].isdigit():
        return {"type": "agent" if agent else "telegram_user", "id": int(audit_actor[3:])}
    if audit_actor == "system":
        return {"type": "system"}
    return {"type": "client", "id": audit_actor.removeprefix(CLIENT_ACTOR_PREFIX)}


def device(device_id: str, name: str) -> dict[str, str]:
    return {"id": device_id, "name": name}


def emit(
    tx: Transaction,
    event_type: str,
    account_id: str,
    now: datetime,
    *,
    by: dict[str, Any],
    **facts: Any,
) -> None:
    """Write the event and its deliveries in ``tx`` (see the module docstring)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    endpoints = [e.id for e in tx.webhooks.endpoints() if e.wants(event_type)]
    if not endpoints:
        return
    seq = tx.webhooks.next_seq(account_id)
    data = {"account": account_id, "seq": seq, "actor": by, "at": utc(now), **facts}
    body = json.dumps(
        {"type": event_type, "timestamp": utc(now), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
        default=_fact,
    )
    message_id = "msg_" + secrets.token_urlsafe(MESSAGE_ID_BYTES)
    tx.webhooks.add_event(message_id, event_type, account_id, seq, body, endpoints, now)


def _fact(value: object) -> object:
    if isinstance(value, datetime):
        return utc(value)
    raise TypeError(f"an event fact must be plain data, not {type(value).__name__}")
