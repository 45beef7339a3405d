"""What the bot says in the ops chat (alerts, health), in English. Telegram HTML."""

from __future__ import annotations

HEALTH = (
    "<b>Health</b>\nDatabase: {database}\nAlerts waiting: {outbox}\n"
    "Alerts set aside (undeliverable for a day, see the log): {set_aside}\n"
    "Open requests: {open_requests}\nUp since: {since}"
)
HEALTH_OLDEST = "{count} (the oldest raised {age} ago)"
HEALTH_UNKNOWN = "?"

HEALTH_ONLY = "Health is shown in the ops chat, and to admins."

ALERT_ICONS = {"info": "🔵", "warning": "🟠", "critical": "🔴"}

ALERT_TITLES = {
    "account_locked": "Account locked after failed codes",
    "account_hard_locked": "Account blocked after 100 failed codes",
    "deactivation_requested": "Deactivation request filed",
    "deactivation_approved": "Deactivation approved: 2FA off",
    "deactivation_denied": "Deactivation request denied",
    "deactivation_withdrawn": "Deactivation request withdrawn",
    "deactivation_expired": "Deactivation request expired undecided",
    "request_waiting": "Deactivation request waiting for a decision",
    "failure_burst": "Burst of failed codes from one Telegram user",
    "bot_error": "Error inside the bot",
    "api_error": "Error inside the HTTP API",
    "lock_cleared": "Lock cleared by support",
    "deactivation_ended": "Deactivation window ended: 2FA required again",
    "recovery_code_used": "Recovery code used",
    "device_added": "Another device added to an account",
    "recovery_codes_regenerated": "New recovery codes issued",
    "two_factor_turned_off": "2FA turned off by the user (last device removed)",
    "device_removed_after_recovery": "Device removed with a recovery code",
    "enrolment_after_recovery": "New device set up with a recovery code",
    "bot_started": "Bot started",
    "bot_stopped": "Bot stopped",
}

ALERT_ACTIONS = {
    "account_locked": "Nothing, unless it repeats: the lock lifts by itself.",
    "account_hard_locked": "Contact the user; an agent clears it with /unlock in support.",
    "deactivation_requested": "An agent decides in the support chat.",
    "deactivation_approved": "Nothing; the user sets up a new device.",
    "deactivation_expired": "Check why no agent decided; the user may ask again.",
    "request_waiting": "Ask an agent to decide in the support chat (/queue).",
    "failure_burst": "Possible guessing: look at this user's entries in the audit log.",
    "bot_error": "Look at the log around this time; users were told to try again.",
    "api_error": "Look at the log around this time; the login system got a 500.",
    "deactivation_denied": "Nothing; the user was told, with the reason if one was given.",
    "deactivation_withdrawn": "Nothing; the user withdrew it.",
    "recovery_code_used": "Nothing if the user expected it; if not, ask support to check.",
    "recovery_codes_regenerated": "Nothing; the old set no longer works.",
    "device_added": "Nothing if the user expected it; the user was asked for a code first.",
    "two_factor_turned_off": "Nothing if expected; the account logs in with the password alone.",
    "device_removed_after_recovery": (
        "Make sure the account's owner did it: whoever holds the recovery codes can take "
        "the account over. If not, ask support to step in."
    ),
    "enrolment_after_recovery": (
        "Make sure the account's owner did it: whoever holds the recovery codes can take "
        "the account over. If not, ask support to step in."
    ),
}

ALERT_SINGLE = "{icon} <b>{severity}</b> · {title}\n{facts}When: {when}{details}{action}"

ALERT_FOLDED = (
    "{icon} <b>{severity}</b> · {count} × {title}\n"
    "{facts}From {first} to {last} (a burst: more than {more_than} in {minutes} minutes,"
    " so they come together){action}"
)

ALERT_MORE = " (+{count} more)"
ALERT_ACCOUNT = "Account: {accounts}\n"
ALERT_ACCOUNTS = "Accounts: {accounts}\n"
ALERT_USER = "Telegram user: {users}\n"
ALERT_USERS = "Telegram users: {users}\n"
ALERT_DETAIL = "\n{key}: {value}"
ALERT_ACTION = "\nWhat to do: {action}"
