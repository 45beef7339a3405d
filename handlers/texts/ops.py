"""What the bot says in the ops chat (alerts, health), in English. Telegram HTML."""

from __future__ import annotations

from handlers.texts import N_

HEALTH = N_(
    "<b>Health</b>\nDatabase: {database}\nAlerts waiting: {outbox}\n"
    "Alerts set aside (undeliverable for a day, see the log): {set_aside}\n"
    "Open requests: {open_requests}\nUp since: {since}"
)
HEALTH_OLDEST = N_("{count} (the oldest raised {age} ago)")
HEALTH_UNKNOWN = "?"
HEALTH_DATABASE_OK = N_("ok")
HEALTH_DATABASE_DOWN = N_("NOT ANSWERING")

HEALTH_ONLY = N_("Health is shown in the ops chat, and to admins.")

ALERT_ICONS = {"info": "🔵", "warning": "🟠", "critical": "🔴"}

ALERT_SEVERITIES = {"info": N_("INFO"), "warning": N_("WARNING"), "critical": N_("CRITICAL")}

ALERT_TITLES = {
    "account_locked": N_("Account locked after failed codes"),
    "account_hard_locked": N_("Account blocked after 100 failed codes"),
    "deactivation_requested": N_("Deactivation request filed"),
    "deactivation_approved": N_("Deactivation approved: 2FA off"),
    "deactivation_denied": N_("Deactivation request denied"),
    "deactivation_withdrawn": N_("Deactivation request withdrawn"),
    "deactivation_expired": N_("Deactivation request expired undecided"),
    "request_waiting": N_("Deactivation request waiting for a decision"),
    "failure_burst": N_("Burst of failed codes from one Telegram user"),
    "bot_error": N_("Error inside the bot"),
    "api_error": N_("Error inside the HTTP API"),
    "lock_cleared": N_("Lock cleared by support"),
    "deactivation_ended": N_("Deactivation window ended: 2FA required again"),
    "recovery_code_used": N_("Recovery code used"),
    "database_restored": N_("Database restored from a backup"),
    "device_added": N_("Another device added to an account"),
    "recovery_codes_regenerated": N_("New recovery codes issued"),
    "two_factor_turned_off": N_("2FA turned off by the user (last device removed)"),
    "device_removed_after_recovery": N_("Device removed with a recovery code"),
    "enrolment_after_recovery": N_("New device set up with a recovery code"),
    "bot_started": N_("Bot started"),
    "bot_stopped": N_("Bot stopped"),
    "audit_head": N_("Audit log: the head of the chain"),
    "audit_row_late": N_("Audit log: rows chained late"),
    "webhook_set_aside": N_("Webhook event given up after a day of failed deliveries"),
    "webhook_disabled": N_("Webhook endpoint disabled: it answered 410 Gone"),
    "challenge_reported": N_("Login approval reported: “This wasn't me”"),
}

ALERT_ACTIONS = {
    "account_locked": N_("Nothing, unless it repeats: the lock lifts by itself."),
    "account_hard_locked": N_("Contact the user; an agent clears it with /unlock in support."),
    "deactivation_requested": N_("An agent decides in the support chat."),
    "deactivation_approved": N_("Nothing; the user sets up a new device."),
    "deactivation_expired": N_("Check why no agent decided; the user may ask again."),
    "request_waiting": N_("Ask an agent to decide in the support chat (/queue)."),
    "failure_burst": N_("Possible guessing: look at this user's entries in the audit log."),
    "bot_error": N_("Look at the log around this time; users were told to try again."),
    "api_error": N_("Look at the log around this time; the login system got a 500."),
    "deactivation_denied": N_("Nothing; the user was told, with the reason if one was given."),
    "deactivation_withdrawn": N_("Nothing; the user withdrew it."),
    "recovery_code_used": N_("Nothing if the user expected it; if not, ask support to check."),
    "database_restored": N_(
        "Devices removed since the backup are back, and those added since are gone: find "
        "them in this chat's alerts since then (or with python -m bot audit export) and "
        "have support remove them again. Users were told to get new recovery codes."
    ),
    "recovery_codes_regenerated": N_("Nothing; the old set no longer works."),
    "device_added": N_("Nothing if the user expected it; the user was asked for a code first."),
    "two_factor_turned_off": N_(
        "Nothing if expected; the account logs in with the password alone."
    ),
    "device_removed_after_recovery": N_(
        "Make sure the account's owner did it: whoever holds the recovery codes can take "
        "the account over. If not, ask support to step in."
    ),
    "enrolment_after_recovery": N_(
        "Make sure the account's owner did it: whoever holds the recovery codes can take "
        "the account over. If not, ask support to step in."
    ),
    "audit_head": N_(
        "Nothing; this message is the record. Later, python -m bot audit verify --head "
        "SEQ:MAC (with the seq and mac above) shows whether the log still holds this link: "
        "a rewritten log does not."
    ),
    "audit_row_late": N_(
        "Expected once after the upgrade that brought the chain, and after the bot was down "
        "while the API wrote. Otherwise a row came with an old time (a server clock behind, "
        "or a row written by hand): look at it with python -m bot audit export."
    ),
    "webhook_set_aside": N_(
        "Check the receiver (python -m bot webhooks list); the event is kept but no longer "
        "sent, and the endpoint goes on with the next ones."
    ),
    "webhook_disabled": N_(
        "The receiver asked for no more events; its events, and those raised from now on, "
        "are held for it. When it is ready again: python -m bot webhooks enable NAME."
    ),
    "challenge_reported": N_(
        "Someone tried to log in with this account's password: the user was told to change "
        "it, and no approval is asked for 15 minutes. Check the address and the client."
    ),
}

ALERT_SINGLE = N_("{icon} <b>{severity}</b> · {title}\n{facts}When: {when}{details}{action}")

ALERT_FOLDED = N_(
    "{icon} <b>{severity}</b> · {count} × {title}\n"
    "{facts}From {first} to {last} (a burst: more than {more_than} in {minutes} minutes,"
    " so they come together){action}"
)

ALERT_MORE = N_(" (+{count} more)")
ALERT_ACCOUNT = N_("Account: {accounts}\n")
ALERT_ACCOUNTS = N_("Accounts: {accounts}\n")
ALERT_USER = N_("Telegram user: {users}\n")
ALERT_USERS = N_("Telegram users: {users}\n")
ALERT_DETAIL = N_("\n{key}: {value}")
# The names of an alert's facts (its detail keys; English: the keys themselves).
ALERT_DETAIL_NAMES = {
    "accounts": N_("accounts"),
    "agent_id": N_("agent_id"),
    "bot": N_("bot"),
    "devices": N_("devices"),
    "error": N_("error"),
    "failures": N_("failures"),
    "first_row": N_("first_row"),
    "key_id": N_("key_id"),
    "left": N_("left"),
    "mac": N_("mac"),
    "minutes": N_("minutes"),
    "name": N_("name"),
    "recovery_codes": N_("recovery_codes"),
    "request_id": N_("request_id"),
    "rows": N_("rows"),
    "seq": N_("seq"),
    "trace": N_("trace"),
    "until": N_("until"),
    "waiting_minutes": N_("waiting_minutes"),
    "where": N_("where"),
    "endpoint": N_("endpoint"),
    "event": N_("event"),
    "url": N_("url"),
    "client": N_("client"),
    "app": N_("app"),
    "ip": N_("ip"),
    "location": N_("location"),
}
ALERT_ACTION = N_("\nWhat to do: {action}")
