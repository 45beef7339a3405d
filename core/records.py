"""The domain records, as the core hands them to the adapters.

They are defined beside the repositories that build them (storage/records.py, the
bottom floor, which imports nothing above it); the adapters read them here and never
import storage.
"""

from storage.records import (
    AccountSecurity,
    AlertEvent,
    AuditEntry,
    ChainedEntry,
    CleanupItem,
    Conversation,
    DeactivationRequest,
    Device,
    EnrollmentLink,
    EnrolmentStage,
    PendingEnrolment,
    RequestStatus,
    TelegramUserLink,
    UserNotice,
)

__all__ = [
    "AccountSecurity",
    "AlertEvent",
    "AuditEntry",
    "ChainedEntry",
    "CleanupItem",
    "Conversation",
    "DeactivationRequest",
    "Device",
    "EnrollmentLink",
    "EnrolmentStage",
    "PendingEnrolment",
    "RequestStatus",
    "TelegramUserLink",
    "UserNotice",
]
