"""A pending enrolment inside a transaction: whether it is still live (one that ran out
ends first), how it ends (its conversation slot released, its chat messages scheduled
for deletion, audited), and what the user's message does at each step: the code from the
app, then the device's name. ``core/enrolment.py`` runs these in its transactions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from core import conversation, totp
from core.activation import audit_enrolment
from core.alerts import note_failure
from core.conversation import Flow, Step
from core.crypto import SecretBox
from core.enrolment_results import Outcome, StepResult
from core.free_text import device_name_problem
from storage.records import PendingEnrolment
from storage.repositories import Transaction

SYSTEM_ACTOR = "system"


def open_secret(box: SecretBox, enrolment: PendingEnrolment) -> str:
    """The enrolment's secret, opened (in memory only)."""
    return box.open(
        enrolment.secret_sealed, account_id=enrolment.account_id, device_id=enrolment.id
    )


def live(tx: Transaction, user_id: int, now: datetime) -> tuple[PendingEnrolment | None, bool]:
    """The user's pending enrolment, ending it first if it ran out; (enrolment, expired)."""
    enrolment = tx.enrolments.for_user(user_id)
    if enrolment is not None and enrolment.expires_at <= now:
        end(tx, enrolment, now, "enrolment_expired", SYSTEM_ACTOR)
        return None, True
    return enrolment, False


def end(
    tx: Transaction, enrolment: PendingEnrolment, now: datetime, action: str, actor: str
) -> None:
    """The enrolment ends: its slot is released, its messages leave the chat; audited."""
    tx.enrolments.delete(enrolment.id)
    conversation.release(tx, enrolment.telegram_user_id, Flow.ENROL)
    tx.cleanup.schedule(enrolment.chat_id, enrolment.chat_messages(), now)
    audit_enrolment(tx, enrolment, now, action, actor, stage=enrolment.stage.value)


def advance(
    tx: Transaction,
    box: SecretBox,
    user_id: int,
    text: str | None,
    message_id: int | None,
    now: datetime,
    expected: frozenset[Step],
) -> StepResult:
    """The user's message (``text`` None: not text) as the input for the step the slot is
    at, if it is one of ``expected``."""
    enrolment, expired = live(tx, user_id, now)
    if expired:
        return StepResult(Outcome.EXPIRED)
    if enrolment is None:
        return StepResult(Outcome.NO_ENROLMENT)
    step = conversation.step_of(tx, user_id, Flow.ENROL)
    left = enrolment.attempts_left
    if step is None or step not in expected:
        return StepResult(Outcome.WRONG_STEP, enrolment, left, step=step)
    if text is None:
        return StepResult(Outcome.NOT_TEXT, enrolment, left, step=step)
    if step is Step.CODE:
        return code_step(tx, box, enrolment, text, message_id, now)
    return name_step(tx, enrolment, text, step)


def code_step(
    tx: Transaction,
    box: SecretBox,
    enrolment: PendingEnrolment,
    text: str,
    message_id: int | None,
    now: datetime,
) -> StepResult:
    """CODE: the app's code. Accepted -> NAME; the last wrong try ends the enrolment."""
    actor = f"tg:{enrolment.telegram_user_id}"
    parsed = totp.parse_code(text)
    if parsed.code is None:
        return StepResult(
            Outcome.NOT_A_CODE,
            enrolment,
            enrolment.attempts_left,
            digit_count=parsed.digit_count,
            step=Step.CODE,
        )
    accepted = totp.matching_step(open_secret(box, enrolment), parsed.code, now)
    if accepted is None:
        left = enrolment.attempts_left - 1
        if left <= 0:
            end(tx, enrolment, now, "enrolment_failed", actor)
            note_failure(tx, enrolment.telegram_user_id, now)
            return StepResult(Outcome.EXHAUSTED, enrolment)
        tx.enrolments.update(enrolment.id, attempts_left=left)
        audit_enrolment(tx, enrolment, now, "enrolment_code_rejected", attempts_left=left)
        note_failure(tx, enrolment.telegram_user_id, now)
        return StepResult(Outcome.WRONG_CODE, enrolment, left, step=Step.CODE)
    moved = replace(enrolment, accepted_step=accepted, code_message_id=message_id)
    tx.enrolments.update(enrolment.id, accepted_step=accepted, code_message_id=message_id)
    conversation.move(tx, enrolment.telegram_user_id, Flow.ENROL, Step.NAME)
    audit_enrolment(tx, enrolment, now, "enrolment_code_confirmed")
    return StepResult(Outcome.ACCEPTED, moved, enrolment.attempts_left, step=Step.NAME)


def name_step(tx: Transaction, enrolment: PendingEnrolment, text: str, step: Step) -> StepResult:
    """NAME: the device's name -> CONFIRM. At CONFIRM, a new name before the button
    replaces the earlier one."""
    name = text.strip()
    problem = device_name_problem(name)
    if problem == "looks_like_code":  # most likely the confirmation code, sent again
        return StepResult(Outcome.LOOKS_LIKE_CODE, enrolment, step=step)
    if problem:
        return StepResult(Outcome.INVALID_NAME, enrolment, problem=problem, step=step)
    moved = replace(enrolment, device_name=name)
    tx.enrolments.update(enrolment.id, device_name=name)
    conversation.move(tx, enrolment.telegram_user_id, Flow.ENROL, Step.CONFIRM)
    return StepResult(Outcome.ACCEPTED, moved, step=Step.CONFIRM)
