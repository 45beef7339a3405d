"""What the bot says in the support chat (agents and admins), in English. Telegram HTML."""

from __future__ import annotations

BUTTON_APPROVE = "Approve"

BUTTON_DENY = "Deny"

BUTTON_BACK = "Back"

BUTTON_DENY_NO_REASON = "Deny without reason"

SUPPORT_REQUEST = (
    "🆘 <b>Deactivation request #{id}</b>\n"
    "Account: <code>{account}</code>\n"
    "Telegram: {name} {username} (id <code>{user_id}</code>)\n"
    "{linked}"
    "Sent: {created}\n"
    "Devices:\n{devices}\n"
    "Failed checks in the last 24 h: {failed}\n"
    "Earlier requests: {earlier}\n"
    "Reason: <i>{reason}</i>"
)


SUPPORT_NO_EARLIER = "none"

SUPPORT_OUTCOME = {
    "approved": "\n\n✅ <b>Approved</b> by {agent} at {at}: 2FA off until {until}.",
    "denied": "\n\n❌ <b>Denied</b> by {agent} at {at}.{reason}",
    "withdrawn": "\n\n↩️ <b>Withdrawn</b> by the user at {at}.",
    "expired": "\n\n⌛ <b>Expired</b> at {at} without a decision.",
}

SUPPORT_CHOOSE_DURATION = "\n\nApprove for how long?"

SUPPORT_DENY_HOW = (
    "\n\nTo deny with a reason for the user, reply to this message with the reason. "
    "Or deny without one."
)

ONLY_AGENTS = "Only support agents can decide."

OWN_ACCOUNT = "You cannot decide a request about your own account."

ALREADY_DECIDED = "Already {status} by {agent}."

ALREADY_CLOSED = "This request is already {status}."

QUEUE_EMPTY = "No open requests."

QUEUE_HEADER = "<b>Open requests</b> (oldest first)"

QUEUE_LINE = "• #{id} <code>{account}</code>, waiting {age}"

LOOKUP_USAGE = "Usage: /lookup &lt;account or Telegram user id&gt;"

LOOKUP_BAD_QUERY = (
    "<code>{query}</code> is neither an account id nor a Telegram user id.\n" + LOOKUP_USAGE
)

LOOKUP_NONE = "Nothing known about <code>{query}</code>."

LOOKUP = (
    "<b>{account}</b>\n"
    "Telegram: {users}\n"
    "Devices:\n{devices}\n"
    "Lock: {lock}\n"
    "2FA: {deactivation}\n"
    "Failed checks in the last 24 h: {failed}\n"
    "Requests: {requests}"
)

LOCK_NONE = "none ({failures} failures in a row)"

LOCK_UNTIL = "locked until {until} ({failures} failures in a row)"

LOCK_HARD = "blocked after {failures} failures: /unlock {account} clears it"

DEACTIVATED_UNTIL = "off until {until} (approved deactivation)"

TWO_FA_ON = "required"

UNLOCK_USAGE = "Usage: /unlock &lt;account&gt;"

UNLOCKED = "The lock on <code>{account}</code> is cleared; its codes work again."

NOT_LOCKED = "<code>{account}</code> is not locked."

UNLOCK_OWN_ACCOUNT = "You cannot unlock your own account."

AGENTS_ONLY_ADMINS = "Only admins can manage agents."

AGENTS_LIST = "<b>Support agents</b>\nFrom configuration: {configured}\nAdded: {added}"

AGENTS_USAGE = "Usage: /agents, /agents add &lt;user id&gt;, /agents remove &lt;user id&gt;"

AGENTS_ADDED = "User {id} is now a support agent."

AGENTS_ALREADY = "User {id} is already a support agent."

AGENTS_REMOVED = "User {id} is no longer a support agent."

AGENTS_NOT_FOUND = "User {id} was not added with /agents (agents from SUPPORT_AGENT_IDS stay)."
DENY_REASON_UNSAFE = (
    "That reason looks like a code or a key, and the user would see it: please reply "
    "again with words only."
)
EARLIER_REQUEST = "#{id} {status} ({when})"
STATUS_NAMES = {
    "open": "open",
    "approved": "approved",
    "denied": "denied",
    "withdrawn": "withdrawn",
    "expired": "expired",
}

SUPPORT_LINKED_SINCE = "Linked to this account since: {since}\n"

SUPPORT_LINK_GONE = "No longer linked to this account (switched, or removed by someone on it)\n"

SUPPORT_LINKED_UNKNOWN = "unknown"
