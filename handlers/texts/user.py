"""What the bot says to users in their private chat, in English. Telegram HTML."""

from __future__ import annotations

from handlers.texts import N_, NP_, trn

BUTTON_ENROLL = N_("Set up 2FA")

BUTTON_SHOW_KEY = N_("Show key")

BUTTON_CANCEL = N_("Cancel")

BUTTON_COMPLETE = N_("Complete activation")

START = N_(
    "<b>2FA Desk</b> protects your account with two-factor authentication: "
    "after your password, a login asks for a 6-digit code from an app on your phone.\n\n"
    "You need an authenticator app: Google Authenticator, Microsoft Authenticator, "
    "Authy, 1Password or any other app for time-based codes (TOTP). We never use SMS.\n\n"
    "/enroll sets up 2FA on a device\n"
    "/status shows whether 2FA is active and your devices\n"
    "/help lists everything I can do"
)

HELP = N_(
    "<b>What I can do</b>\n"
    "/enroll: set up 2FA with an authenticator app (also for another device)\n"
    "/status: whether 2FA is active, and your devices\n"
    "/check: try a code from your app, as a login would\n"
    "/devices: your devices, to rename or remove them\n"
    "/recovery: how many recovery codes are left; a new set\n"
    "/lost: lost your authenticator? Use a recovery code, or ask support\n"
    "/cancel: stop what we are doing\n"
    "/help: this message\n\n"
    "<b>How set-up works</b>\n"
    "1. I send a QR code; scan it with your authenticator app "
    "(or tap <i>Show key</i> to type the key).\n"
    "2. Send me the 6-digit code the app shows.\n"
    "3. Give the device a name, e.g. <i>Philipp iPhone</i>.\n"
    "4. Press <b>Complete activation</b>.\n\n"
    "At login, enter the code your app shows. A new code appears every 30 seconds; "
    "a code that just expired still works."
)

GROUP_REFUSAL = N_(
    "2FA is set up in a private chat only, so that nobody else can see your key. "
    "Open a private chat with @{bot_username} and send /enroll there."
)

QR_CAPTION = N_(
    "<b>Step 1: scan this QR code</b> with your authenticator app "
    "(add an account, then scan). Can't scan it? Tap <i>Show key</i> and type the key.\n\n"
    "<b>Step 2:</b> send me the 6-digit code the app now shows for <b>{issuer}</b>.\n\n"
    "Finish within {minutes} minutes; /cancel stops the set-up."
)

QR_CAPTION_AGAIN = N_("You are already setting up a device; here is the same QR code again.\n\n")

MANUAL_KEY = N_(
    "<b>Key for manual entry</b>\n"
    "<code>{key}</code>\n\n"
    "Account: <code>{account}</code>\n"
    "Type: time-based (TOTP), 6 digits, every 30 seconds.\n"
    "Then send me the 6-digit code the app shows. "
    "This message disappears when the set-up ends."
)

KEY_ALREADY_SHOWN = N_("The key is in the message above.")

CODE_WRONG = N_(
    "That code doesn't match. Check that you read the <b>{issuer}</b> entry, "
    "then send the code the app shows now. {tries}"
)

TRIES_LEFT = NP_("{count} try left.", "{count} tries left.")

CODE_EXHAUSTED = N_(
    "That code doesn't match either. After {max} wrong codes I ended this set-up "
    "to keep your account safe. Remove the unfinished entry from your app and send "
    "/enroll to start again with a new QR code."
)

CODE_LENGTH = N_("A code has 6 digits, and that was {count}. Send the 6-digit code your app shows.")

CODE_EXPECTED = N_(
    "I'm waiting for the 6-digit code your authenticator app shows for <b>{issuer}</b>, "
    "for example <code>123 456</code>. /cancel stops the set-up."
)

ASK_NAME = N_(
    "✅ Code confirmed.\n\n"
    "<b>Step 3: name this device</b> so you can tell your devices apart, "
    "e.g. <i>Philipp iPhone</i> (1 to {max} characters)."
)

NAME_EXPECTED = N_("Please send a name for this device as text, e.g. <i>Philipp iPhone</i>.")

NAME_LOOKS_LIKE_CODE = N_(
    "Your code was already confirmed. Now send a <b>name</b> for this device, "
    "e.g. <i>Philipp iPhone</i>."
)

NAME_PROBLEMS = {
    "empty": N_("The name can't be empty. Send a name such as <i>Philipp iPhone</i>."),
    "too_long": N_("That name is too long: at most {max} characters, please."),
    "control": N_("Please send the name on one line, without special characters."),
    "looks_like_code": N_(
        "That looks like a code, and a name is shown in many places, so I did not keep it. "
        "Please send a name such as <i>Philipp iPhone</i>."
    ),
    "looks_like_recovery_code": N_(
        "That looks like a recovery code, so I did not keep it and removed it from the chat. "
        "Please send a name such as <i>Philipp iPhone</i>."
    ),
    "looks_like_key": N_(
        "That looks like a secret key, so I did not keep it and removed it from the chat. "
        "Please send a name such as <i>Philipp iPhone</i>."
    ),
}

SUMMARY = N_(
    "<b>Ready to activate</b>\n"
    "Account: <code>{account}</code>\n"
    "Device: <b>{name}</b>\n"
    "Codes: authenticator app (TOTP)\n\n"
    "Press <b>Complete activation</b> to turn on 2FA with this device. "
    "To change the name, just send a new one."
)

CONFIRM_EXPECTED = N_("Press <b>Complete activation</b> under the summary above, or /cancel.")

ACTIVATED = N_(
    "🔐 <b>2FA is active</b> for <code>{account}</code> with <b>{name}</b>.\n\n"
    "From now on, a login asks for the 6-digit code from your app. "
    "A code that just expired still works; a new one always does.\n"
    "I removed the QR code and the key from this chat. /status shows your devices."
)

ACTIVATED_ANOTHER = N_(
    "🔐 <b>{name}</b> is now active for <code>{account}</code>. "
    "You have {count} devices; a code from any of them works.\n"
    "I removed the QR code and the key from this chat."
)

CANCELLED = N_(
    "Set-up cancelled; nothing was activated. Remove the unfinished entry from your app."
)

NOTHING_TO_CANCEL = N_("There is nothing to cancel.")

STOPPED = N_("Stopped.")

EXPIRED = N_(
    "Your 2FA set-up expired: it has to be finished within {minutes} minutes. "
    "Nothing was activated. Remove the unfinished entry from your app and send "
    "/enroll to start again."
)

STALE_BUTTON = N_("This button is no longer valid.")

PRIVATE_ONLY = N_("Please use this in a private chat with me.")

UNKNOWN_INPUT = N_(
    "I'm not sure what you mean. /enroll sets up 2FA, /status shows your devices "
    "and /help lists everything."
)

SORRY = N_(
    "Sorry, something went wrong on my side. Please send that again; "
    "/status shows where things stand."
)

STATUS_ACTIVE = N_(
    "🔐 <b>2FA is active</b> for <code>{account}</code>.\n\n<b>Devices</b>\n{devices}"
)


STATUS_INACTIVE = N_(
    "2FA is <b>not set up</b> for <code>{account}</code> yet. Send /enroll to set it up."
)

STATUS_PENDING = N_("\n\nA set-up is in progress ({step}); it expires at {expires}.")

STEP_NAMES = {
    "awaiting_code": N_("waiting for the code from your app"),
    "awaiting_name": N_("waiting for a device name"),
    "awaiting_confirmation": N_("waiting for you to press Complete activation"),
}

CHECK_ASK = N_(
    "Send me the 6-digit code your authenticator app shows now, as you would at login. "
    "/cancel stops."
)

CHECK_EXPECTED = N_(
    "Please send the 6-digit code your app shows now (for example <code>123 456</code>), "
    "or a recovery code."
)

CHECK_ACCEPTED = N_(
    "✅ <b>Code accepted</b> ({device}). At login, this is where you would be let in.\n"
    "Tip: a code that just expired still works; a new one always does."
)

CHECK_ACCEPTED_RECOVERY = N_(
    "✅ <b>Recovery code accepted</b>; it is used up now ({left} left). /recovery gives "
    "you a new set."
)

CHECK_REJECTED = N_(
    "❌ <b>That code is not right</b>, or it was already used. {tries} before logins "
    "are locked for a while. Send the code your app shows now to try again."
)

CHECK_TRIES = NP_("{count} try left", "{count} tries left")

CHECK_LOCKED = N_(
    "🔒 <b>Locked</b> after too many wrong codes: logins with 2FA are refused until "
    "{until}, even with a correct code. Wait until then, or ask support if you need help."
)

CHECK_HARD_LOCKED = N_(
    "🔒 <b>Locked</b> after too many wrong codes. Support has to clear the lock before "
    "codes work again; please contact them."
)

CHECK_NOT_ENROLLED = N_("No 2FA is set up for <code>{account}</code> yet. /enroll sets it up.")

CHECK_DEACTIVATED = N_(
    "2FA is temporarily off for <code>{account}</code> until {until}: a login works with "
    "the password alone. /enroll sets up a new device."
)


LINK_BOUND = N_("This chat now manages the account <code>{account}</code>.")

LINK_CONFIRM = N_(
    "This link is for the account <code>{new}</code>, but this chat manages "
    "<code>{current}</code>. Switch to <code>{new}</code>? "
    "<code>{current}</code> keeps its devices."
)

BUTTON_SWITCH = N_("Switch")

BUTTON_KEEP = N_("Keep the current account")

LINK_KEPT = N_(
    "Nothing changed: this chat still manages <code>{current}</code>. The link no longer "
    "works; ask for a new one where you log in if you change your mind."
)

LINK_UNKNOWN = N_(
    "This link is not valid. Please ask for a new one where you log in, or send /start."
)

LINK_USED = N_(
    "This link was already used; each link works once. Ask for a new one where you log in."
)

LINK_EXPIRED = N_(
    "This link has expired (a link works for {duration}). Ask for a new one where you log in."
)

BUTTON_LOST = N_("Lost my authenticator")

BUTTON_SEND_REQUEST = N_("Send to support")

BUTTON_WITHDRAW = N_("Withdraw the request")

BUTTON_SET_UP_NEW = N_("Set up a new device")

LOST_EXPLAIN = N_(
    "<b>Lost access to your authenticator?</b>\n"
    "Support can turn 2FA off for <code>{account}</code> for a limited time, so that you "
    "can log in with your password alone and set up a new device. Your current devices "
    "will stop working.\n\n"
    "Please tell support in a few words what happened (at most {max} characters), "
    "e.g. <i>phone lost on a trip</i>. /cancel stops."
)

LOST_REASON_PROBLEMS = {
    "empty": N_("Please describe what happened in a few words."),
    "too_long": N_("That is too long: at most {max} characters, please."),
    "looks_like_code": N_(
        "Please leave codes out: support never needs one, and the reason is shown to "
        "agents. Describe in a few words what happened."
    ),
    "looks_like_recovery_code": N_(
        "That looks like a recovery code; I removed it from the chat. Support never needs "
        "one: describe in a few words what happened."
    ),
    "looks_like_key": N_(
        "That looks like a secret key; I removed it from the chat. Support never needs it: "
        "describe in a few words what happened."
    ),
}

LOST_REASON_EXPECTED = N_("Please describe in a few words, as text, what happened.")

LOST_CONFIRM = N_(
    "This goes to support:\n\n<i>{reason}</i>\n\nAccount: <code>{account}</code>\nSend it?"
)

LOST_FILED = N_(
    "Your request <b>#{id}</b> is with support. I will tell you here as soon as an agent "
    "decides. You can withdraw it until then."
)

LOST_ALREADY_OPEN = N_(
    "Your request <b>#{id}</b> (sent {created}) is still with support. "
    "I will tell you when an agent decides."
)

LOST_NOT_ENROLLED = N_(
    "2FA is not set up for <code>{account}</code>, so there is nothing to turn off."
)

LOST_NO_SUPPORT = N_(
    "Requests to support are not available here. Please contact your organisation's "
    "help desk another way."
)

LOST_WITHDRAWN = N_("Request #{id} withdrawn. 2FA stays as it is.")

LOST_APPROVED = N_(
    "✅ Support approved request #{id}: 2FA is <b>off</b> for <code>{account}</code> until "
    "<b>{until}</b>. Until then you log in with your password alone. Your old devices no "
    "longer work.\n\nSet up a new device now: 2FA is back on as soon as it is active."
)

LOST_DENIED = N_("Support declined request #{id}.{reason} 2FA stays on for <code>{account}</code>.")

LOST_DENIED_REASON = N_(" Reason: <i>{reason}</i>.")

LOST_EXPIRED = N_(
    "Request #{id} expired without a decision from support. You can send a new one with /lost."
)

LOST_REMINDER = N_(
    "⏰ 2FA for <code>{account}</code> is off only until <b>{until}</b>. Set up a new "
    "device now, or logins will ask for a code you cannot give."
)

STATUS_DEACTIVATED = N_("\n\n2FA is temporarily <b>off</b> until {until} (approved by support).")

BUTTON_RENAME = N_("Rename {name}")

BUTTON_REMOVE = N_("Remove {name}")

BUTTON_NEW_CODES = N_("New recovery codes")

BUTTON_REMOVE_LAST = N_("Yes, turn 2FA off")

BUTTON_KEEP_DEVICE = N_("Keep it")

BUTTON_USE_RECOVERY = N_("Use a recovery code")

BUTTON_ASK_SUPPORT = N_("Ask support")

DEVICES_LIST = N_("<b>Your devices</b> for <code>{account}</code>\n{devices}")


DEVICES_NONE = N_("No devices: 2FA is not set up for <code>{account}</code>. /enroll sets it up.")

ASK_CODE = {
    "enroll": N_(
        "<code>{account}</code> already has 2FA. To add another device, first send a "
        "current 6-digit code from one of its devices, or a recovery code."
    ),
    "rename": N_("To rename <b>{name}</b>, first send a current 6-digit code from any device."),
    "remove": N_("To remove <b>{name}</b>, first send a current 6-digit code from any device."),
    "recovery": N_("To get new recovery codes, first send a current 6-digit code from your app."),
    "unlink": N_(
        "To remove <b>{name}</b> from <code>{account}</code>, first send a current 6-digit "
        "code from any device (or a recovery code)."
    ),
}

CODE_FOR_CHANGE_EXPECTED = N_(
    "Please send the 6-digit code your app shows now (or a recovery code), or /cancel."
)

CHANGE_REFUSED = N_("That code is not right. {tries}. Nothing was changed.")

CHANGE_LOCKED = N_("Too many wrong codes: locked until {until}. Nothing was changed.")

ASK_NEW_NAME = N_("Code accepted. Send the new name for <b>{name}</b> (1 to {max} characters).")

RENAMED = N_("Renamed to <b>{name}</b>.")

REMOVED = NP_(
    "🗑 <b>{name}</b> is removed; its codes no longer work. You have {count} device.",
    "🗑 <b>{name}</b> is removed; its codes no longer work. You have {count} devices.",
)

REMOVED_LAST = N_(
    "🗑 <b>{name}</b> is removed. 2FA is now <b>off</b> for <code>{account}</code>: a login "
    "needs the password alone. /enroll sets it up again."
)

CONFIRM_REMOVE_LAST = N_(
    "<b>{name}</b> is your last device. Removing it turns 2FA <b>off</b> for "
    "<code>{account}</code>. Remove it?"
)

KEPT_DEVICE = N_("Nothing was removed.")

RECOVERY_STATUS = NP_(
    "You have <b>{count}</b> unused recovery code for <code>{account}</code>. A new set "
    "replaces the old one.",
    "You have <b>{count}</b> unused recovery codes for <code>{account}</code>. A new set "
    "replaces the old one.",
)

RECOVERY_NONE = N_("There are no recovery codes: 2FA is not set up for <code>{account}</code>.")

RECOVERY_CODES = N_(
    "<b>Your recovery codes</b> for <code>{account}</code>\n"
    "If you lose your authenticator, each of these works once instead of a code from the "
    "app. Save them now somewhere safe (a password manager, or on paper); I will not show "
    "them again.\n\n{codes}\n\n"
    "This message leaves the chat when you press <b>I have saved them</b>, or in "
    "{minutes} minutes, so that nobody finds the codes here later."
)

LOST_CHOICE = N_(
    "<b>Lost access to your authenticator?</b>\n"
    "With one of your recovery codes you can remove the lost device and set up a new one "
    "right now. Without one, support can turn 2FA off for a while."
)

ASK_RECOVERY_CODE = N_("Send one of your recovery codes (like <code>1a2b-3c4d-5e6f-7a8b</code>).")

APP_CODE_AT_RECOVERY = N_(
    "That looks like a code from your app. If you still have the app, no recovery is "
    "needed: /devices manages your devices, /enroll adds one. Otherwise send a recovery "
    "code (like <code>1a2b-3c4d-5e6f-7a8b</code>)."
)

RECOVERY_REFUSED = N_("That recovery code does not work (each works once). {tries}.")

RECOVERED = N_(
    "✅ Recovery code accepted ({left} left). Set up your new device, and remove the lost "
    "one so that its codes stop working."
)

NOTICES = {
    "device_added": N_(
        "🔐 A device, <b>{name}</b>, was added to 2FA for <code>{account}</code>. If this "
        "was not you, remove it with /devices and contact support."
    ),
    "device_removed": N_(
        "🗑 The device <b>{name}</b> was removed from <code>{account}</code>. If this was "
        "not you, contact support."
    ),
    "device_revoked": N_(
        "🗑 Support revoked the device <b>{name}</b> of <code>{account}</code> (an approved "
        "deactivation request)."
    ),
    "deactivation_ended": N_(
        "⏰ The temporary deactivation of 2FA for <code>{account}</code> has ended: 2FA is "
        "required again. The lost devices no longer work, so every login is refused until "
        "you set up a new device: send /enroll."
    ),
    "recovery_code_used": N_(
        "🔑 A recovery code was used for <code>{account}</code> ({left} left). If this was "
        "not you, get a new set with /recovery and contact support."
    ),
    "device_removed_after_recovery": N_(
        "🔑 A recovery code was used to remove the device <b>{name}</b> from "
        "<code>{account}</code>. If this was not you, someone has your recovery codes: "
        "contact support now."
    ),
    "enrolment_after_recovery": N_(
        "🔑 A recovery code was used to set up a new device for <code>{account}</code>. If "
        "this was not you, someone has your recovery codes: contact support now."
    ),
    "manager_added": N_(
        "👤 <b>{name}</b>{username} (Telegram id {user_id}) now manages "
        "<code>{account}</code> from Telegram too. If you do not know them, remove them "
        "in /status and contact support."
    ),
    "manager_removed": N_(
        "👤 <b>{name}</b> no longer manages <code>{account}</code>: {by} removed them."
    ),
    "removed_as_manager": N_(
        "👤 You no longer manage <code>{old}</code> from this chat: {by} removed you. If "
        "that is unexpected, contact support."
    ),
    "restored_from_backup": N_(
        "🗄 2FA Desk was restored from a backup, so recent changes to <code>{account}</code> "
        "may be lost. Your recovery codes no longer work: get a new set with /recovery. If "
        "you added or removed a device recently, check /devices."
    ),
    "deactivation_requested": N_(
        "🆘 {name} asked support to turn 2FA off for <code>{account}</code> for a while "
        "(request #{id}), as the authenticator is lost. Their reason: <i>{reason}</i>. If "
        "that is wrong, withdraw the request below (or with /lost) before an agent decides."
    ),
    "deactivation_withdrawn": N_(
        "↩️ {by} withdrew request #{id} to turn 2FA off for <code>{account}</code>. 2FA "
        "stays as it is."
    ),
    "recovery_codes_renewed": N_(
        "🔑 {by} got a new set of recovery codes for <code>{account}</code>: the earlier "
        "codes no longer work, also any you saved. If this was not agreed, contact "
        "support; /recovery gives you a new set (which voids theirs)."
    ),
    "recovery_code_voided": N_(
        "🔑 A recovery code of <code>{account}</code> was posted in a chat and has been "
        "voided ({left} left). /recovery gives you a new set."
    ),
}

COMMANDS = [
    ("start", N_("What this bot does")),
    ("enroll", N_("Set up 2FA on a device")),
    ("check", N_("Try a code from your app, as at login")),
    ("devices", N_("Your devices: rename, remove")),
    ("recovery", N_("Recovery codes")),
    ("lost", N_("Lost your authenticator?")),
    ("status", N_("Is 2FA active? Your devices")),
    ("cancel", N_("Stop what we are doing")),
    ("language", N_("English or German")),
    ("help", N_("All commands")),
]


def tries_left(count: int) -> str:
    return "" if count <= 0 else trn(TRIES_LEFT, count).format(count=count)


def check_tries(count: int) -> str:
    return trn(CHECK_TRIES, count).format(count=count)


# One conversation at a time: what waits, what was stopped.
FLOW_DOING = {
    "enrol": N_("setting up a new device"),
    "enrol_named": N_("setting up <b>{name}</b>"),
    "check": N_("checking a code"),
    "rename": N_("renaming <b>{name}</b>"),
    "remove": N_("removing <b>{name}</b>"),
    "new_codes": N_("getting new recovery codes"),
    "recover": N_("using a recovery code"),
    "lost": N_("asking support to turn 2FA off"),
    "deny": N_("denying request #{request}"),
    "link": N_("linking this chat to another account"),
    "unlink": N_("removing <b>{name}</b> from this account"),
}
STEP_ASK = {
    "proof": N_("send a current 6-digit code from your app (or a recovery code)"),
    "code": N_("send the 6-digit code"),
    "name": N_("send a name"),
    "confirm": N_("press the button under the summary"),
    "reason": N_("send the reason"),
    "enrol.code": N_("send the 6-digit code your app shows"),
    "enrol.name": N_("send a name for the device"),
    "enrol.confirm": N_("press <b>Complete activation</b>"),
    "rename.name": N_("send the new name"),
    "remove.confirm": N_("press <b>Yes, turn 2FA off</b> or <b>Keep it</b>"),
    "recover.code": N_("send one of your recovery codes"),
    "lost.reason": N_("send what happened, in a few words"),
    "lost.confirm": N_("press <b>Send to support</b>"),
    "deny.reason": N_("reply to the request in the support chat with the reason"),
}
PENDING = N_("You are {doing}: {ask}, or /cancel.")
BUTTON_CONTINUE = N_("Continue")
BUTTON_DROP = N_("Drop it, start the new one")
BUSY_ELSEWHERE = N_("You are {doing}. Finish it or /cancel it in our private chat first.")
WAITING_ELSEWHERE = N_("You are {doing} in the support chat: answer there, or /cancel.")
TIMED_OUT = N_("That took too long, so I stopped {doing}. Nothing was changed; please start again.")
STOPPED_DOING = N_("Stopped {doing}. Nothing was changed.")
SUPPORT_CLEARS = N_("support clears it")
RENAME_RAN_OUT = N_("That took too long; nothing was renamed. Start again from /devices.")
YOUR_APP = N_("your app")

# Recovery codes leave the chat.
BUTTON_CODES_SAVED = N_("I have saved them")
CODES_REMOVED = N_("Removed from the chat. Keep them safe; /recovery gives you a new set.")

# Who manages an account: links that need a code, the people in /status.
LINK_ASK_PROOF = N_(
    "<code>{account}</code> has 2FA. To manage it from this chat, send a current 6-digit "
    "code from one of its devices, or one of its recovery codes. /cancel stops, and the "
    "link then no longer works."
)
LINK_BOUND_PROVED = N_(
    "✅ Code accepted. This chat now manages <code>{account}</code>; everyone else who "
    "manages it is told. /status shows its devices, /enroll adds one."
)
LINK_VOID = N_(
    "This link no longer works: it was declined, stopped, or shown in a group. Ask for a "
    "new one where you log in."
)
LINK_STOPPED = N_(
    "Stopped linking this chat to <code>{account}</code>. The link no longer works; ask "
    "for a new one where you log in."
)
LINK_IN_GROUP = N_(
    "Links belong in a private chat with me, where nobody else can read them. I removed "
    "your message where I could, and that link no longer works: ask for a new one where "
    "you log in, and open it in a private chat with @{bot_username}."
)
CODE_IN_GROUP = N_(
    "Please never send codes in a group: anyone here can read them. I removed your "
    "message where I could. Use /check in a private chat with @{bot_username}."
)
SECRET_IN_GROUP = N_(
    "🔒 That message looked like a code, a recovery code or a key, which anyone here can "
    "read: I removed it where I could, and a code of yours in it no longer works. Secrets "
    "belong in a private chat with @{bot_username}."
)
STATUS_PEOPLE = N_("\n\n<b>Managed from Telegram by</b>\n{people}")
PERSON_LINE = N_("• {name}{username}, since {since}{you}")
PERSON_YOU = N_(" (you)")
PERSON_SINCE_UNKNOWN = N_("an unknown date")
BUTTON_REMOVE_PERSON = N_("Remove {name}")
MANAGER_REMOVED = N_(
    "👤 <b>{name}</b> no longer manages <code>{account}</code>; everyone on it is told."
)

LANGUAGE_ASK = N_("Which language should I use?")
LANGUAGE_SET = N_("From now on I write to you in English.")

# 2FA required, no device (after a deactivation window): logins are refused.
CHECK_ENROLLMENT_REQUIRED = N_(
    "🔒 <b>2FA is on</b> for <code>{account}</code>, but <b>no device</b> is set up (the "
    "lost ones were revoked): a login is refused, whatever the code. Send /enroll to set "
    "up a new device."
)
STATUS_ENROLLMENT_REQUIRED = N_(
    "🔒 <b>2FA is required</b> for <code>{account}</code>, but <b>no device</b> is set up: "
    "every login is refused until you set up a new one. Send /enroll."
)
STATUS_NEW_DEVICE_NEEDED = N_(
    "<b>No device</b> is set up for <code>{account}</code>. When the deactivation ends, 2FA "
    "is required again and every login is refused until you set up a new device: send "
    "/enroll."
)
LOST_NEEDS_NEW_DEVICE = N_(
    "<code>{account}</code> has no device left to turn off, and 2FA stays required. Send "
    "/enroll to set up a new device."
)

# Approve a login in the chat (handlers/challenges.py). The context values are the login
# system's, shown as text (escaped).
CHALLENGE_TITLE = N_("🔐 <b>Is this you, logging in?</b>")
CHALLENGE_ACCOUNT = N_("Account: <code>{account}</code>")
CHALLENGE_APP = N_("App: {app}")
CHALLENGE_IP = N_("Address: {ip}")
CHALLENGE_LOCATION = N_("Place: {location}")
CHALLENGE_TIME = N_("Time: {when}")
CHALLENGE_PICK_NUMBER = N_(
    "If it is you, press the number your login screen shows. If you are not logging in "
    "right now, press <b>This wasn't me</b>. This request ends at {until}."
)
CHALLENGE_APPROVE_OR_NOT = N_(
    "If it is you, press <b>Approve</b>. If you are not logging in right now, press "
    "<b>This wasn't me</b>. This request ends at {until}."
)
BUTTON_CHALLENGE_APPROVE = N_("Approve")
BUTTON_CHALLENGE_NOT_ME = N_("This wasn't me")
CHALLENGE_ACCEPTED = N_("✅ <b>Approved</b> at {when}: the login goes on.")
CHALLENGE_WRONG_NUMBER = N_(
    "❌ <b>Declined</b> at {when}: a number other than the login screen's was pressed, so "
    "the login was refused. If it was you, log in again."
)
CHALLENGE_DECLINED_LOCKED = N_(
    "❌ <b>Declined</b> at {when}: the account is locked after too many failed codes."
)
CHALLENGE_REPORTED = N_(
    "🚫 <b>Reported</b> at {when}: the login was refused and the operations team was "
    "alerted. <b>Change your password now</b>: whoever tried this knows it."
)
CHALLENGE_EXPIRED = N_("⌛ <b>Expired</b>: nobody answered in time, so the login was refused.")
CHALLENGE_CANCELLED = N_("The login was cancelled before anyone answered.")
CHALLENGE_ANSWER_ACCEPTED = N_("Approved.")
CHALLENGE_ANSWER_WRONG = N_("Wrong number: the login was refused.")
CHALLENGE_ANSWER_LOCKED = N_("The account is locked: the login was refused.")
CHALLENGE_ANSWER_REPORTED = N_("Reported. Change your password now.")
CHALLENGE_ANSWER_DECIDED = N_("Already answered.")
CHALLENGE_ANSWER_EXPIRED = N_("This request has expired.")
