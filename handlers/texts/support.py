"""What the bot says in the support chat (agents and admins), in English. Telegram HTML."""

from __future__ import annotations

from handlers.texts import N_

BUTTON_APPROVE = N_("Approve")

BUTTON_DENY = N_("Deny")

BUTTON_BACK = N_("Back")

BUTTON_DENY_NO_REASON = N_("Deny without reason")

SUPPORT_REQUEST = N_(
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


SUPPORT_NO_EARLIER = N_("none")

SUPPORT_OUTCOME = {
    "approved": N_("\n\n✅ <b>Approved</b> by {agent} at {at}: 2FA off until {until}."),
    "denied": N_("\n\n❌ <b>Denied</b> by {agent} at {at}.{reason}"),
    "withdrawn": N_("\n\n↩️ <b>Withdrawn</b> by the user at {at}."),
    "expired": N_("\n\n⌛ <b>Expired</b> at {at} without a decision."),
}

SUPPORT_CHOOSE_DURATION = N_("\n\nApprove for how long?")

SUPPORT_DENY_HOW = N_(
    "\n\nTo deny with a reason for the user, reply to this message with the reason. "
    "Or deny without one."
)

ONLY_AGENTS = N_("Only support agents can decide.")

OWN_ACCOUNT = N_("You cannot decide a request about your own account.")

ALREADY_DECIDED = N_("Already {status} by {agent}.")

ALREADY_CLOSED = N_("This request is already {status}.")

QUEUE_EMPTY = N_("No open requests.")

QUEUE_HEADER = N_("<b>Open requests</b> (oldest first)")

QUEUE_LINE = N_("• #{id} <code>{account}</code>, waiting {age}")

LOOKUP_USAGE = N_("Usage: /lookup &lt;account or Telegram user id&gt;")

LOOKUP_BAD_QUERY = N_(
    "<code>{query}</code> is neither an account id nor a Telegram user id.\n"
    "Usage: /lookup &lt;account or Telegram user id&gt;"
)

LOOKUP_NONE = N_("Nothing known about <code>{query}</code>.")

LOOKUP = N_(
    "<b>{account}</b>\n"
    "Telegram: {users}\n"
    "Devices:\n{devices}\n"
    "Lock: {lock}\n"
    "2FA: {deactivation}\n"
    "Failed checks in the last 24 h: {failed}\n"
    "Requests: {requests}"
)

LOCK_NONE = N_("none ({failures} failures in a row)")

LOCK_UNTIL = N_("locked until {until} ({failures} failures in a row)")

LOCK_HARD = N_("blocked after {failures} failures: /unlock {account} clears it")

DEACTIVATED_UNTIL = N_("off until {until} (approved deactivation)")

TWO_FA_ON = N_("required")

TWO_FA_NO_DEVICE = N_(
    "required, <b>no device</b>: every login is refused until the user sets up a new one (/enroll)"
)

TWO_FA_OFF = N_("not set up (a login needs the password alone)")

UNLOCK_USAGE = N_("Usage: /unlock &lt;account&gt;")

UNLOCKED = N_("The lock on <code>{account}</code> is cleared; its codes work again.")

NOT_LOCKED = N_("<code>{account}</code> is not locked.")

UNLOCK_OWN_ACCOUNT = N_("You cannot unlock your own account.")

AGENTS_ONLY_ADMINS = N_("Only admins can manage agents.")

AGENTS_LIST = N_("<b>Support agents</b>\nFrom configuration: {configured}\nAdded: {added}")

AGENTS_USAGE = N_("Usage: /agents, /agents add &lt;user id&gt;, /agents remove &lt;user id&gt;")

AGENTS_ADDED = N_("User {id} is now a support agent.")

AGENTS_ALREADY = N_("User {id} is already a support agent.")

AGENTS_REMOVED = N_("User {id} is no longer a support agent.")

AGENTS_NOT_FOUND = N_("User {id} was not added with /agents (agents from SUPPORT_AGENT_IDS stay).")
DENY_REASON_UNSAFE = N_(
    "That reason looks like a code or a key, and the user would see it: please reply "
    "again with words only."
)
EARLIER_REQUEST = N_("#{id} {status} ({when})")
STATUS_NAMES = {
    "open": N_("open"),
    "approved": N_("approved"),
    "denied": N_("denied"),
    "withdrawn": N_("withdrawn"),
    "expired": N_("expired"),
}

SUPPORT_LINKED_SINCE = N_("Linked to this account since: {since}\n")

SUPPORT_LINK_GONE = N_("No longer linked to this account (switched, or removed by someone on it)\n")

SUPPORT_LINKED_UNKNOWN = N_("unknown")

UNLOCK_NOT_AN_ACCOUNT = N_(
    "<code>{account}</code> is not an account id.\nUsage: /unlock &lt;account&gt;"
)
LOOKUP_RECENT_CHECKS = N_("Recent checks:")

LOOKUP_NO_CHECKS = N_("Recent checks: none")

RECENT_CHECK_VIA_CLIENT = N_("• {when}: {result} via {client}")

RECENT_CHECK_IN_CHAT = N_("• {when}: {result} in the chat")

RECENT_CHECK_VIA_API = N_("• {when}: {result} via the API")

CHECK_RESULT_NAMES = {
    "accepted": N_("accepted"),
    "rejected": N_("rejected"),
    "locked": N_("locked"),
    "not_enrolled": N_("not set up"),
    "deactivated": N_("deactivated"),
    "enrollment_required": N_("refused: no device (a new one is needed)"),
}

# /lookup: the account's last login approvals in the chat (core/challenges.py).
LOOKUP_RECENT_CHALLENGES = N_("Recent login approvals in the chat:")
RECENT_CHALLENGE = N_("• {when}: {status} via {client}{app}")
RECENT_CHALLENGE_APP = N_(" ({app})")
CHALLENGE_STATUS_NAMES = {
    "pending": N_("waiting"),
    "accepted": N_("approved"),
    "declined": N_("declined"),
    "wrong_number": N_("declined: wrong number"),
    "reported": N_("reported: “This wasn't me”"),
    "locked": N_("declined: locked"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
}
