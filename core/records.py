"""The domain records, as the core hands them to the adapters.

They are defined beside the repositories that build them (storage/records.py, the
bottom floor, which imports nothing above it); the adapters read them here and never
import storage. Only what an adapter reads is here.
"""

from storage.records import (
    CleanupItem,
    Conversation,
    DeactivationRequest,
    Device,
    PendingEnrolment,
    RequestStatus,
    TelegramUserLink,
    UserNotice,
)

__all__ = [
    "CleanupItem",
    "Conversation",
    "DeactivationRequest",
    "Device",
    "PendingEnrolment",
    "RequestStatus",
    "TelegramUserLink",
    "UserNotice",
]
