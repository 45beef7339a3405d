"""/devices, /recovery and recovering with a code, through PTB's Application."""

from __future__ import annotations

from demo.botapi import SimMessage
from tests.harness import Harness, code_for, enrol, wrong
from tests.helpers import CODE, decode_qr, parse_key_uri


def buttons(message: SimMessage) -> list[str]:
    return [label for label, _ in message.buttons]


async def test_first_activation_shows_ten_recovery_codes_once(chat_bot: Harness) -> None:
    user = chat_bot.user()
    phone, codes = await enrol(user, "Phone")
    assert len(codes) == 10 and len(set(codes)) == 10
    _, more = await enrol(user, "Tablet", proof_secret=phone)
    assert more == []


async def test_devices_lists_name_added_and_last_used(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    await user.send(f"/check {code_for(chat_bot, secret)}")
    (listing,) = await user.send("/devices")
    assert (
        "Phone" in listing.shown_text
        and "added" in listing.shown_text
        and "last used 1 March 2026" in listing.shown_text
    )
    assert buttons(listing) == ["Rename Phone", "Remove Phone"]


async def test_rename_asks_for_a_code_first(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    (listing,) = await user.send("/devices")
    (ask,) = await user.press(listing, "Rename Phone")
    assert "first send a current 6-digit code" in ask.shown_text
    (explain,) = await user.send("Work phone")  # a name before the code: not accepted
    assert "6-digit code" in explain.shown_text
    (refused,) = await user.send(wrong(chat_bot, secret))
    assert "not right" in refused.shown_text and "Nothing was changed" in refused.shown_text
    (name_please,) = await user.send(code_for(chat_bot, secret))
    assert "Send the new name" in name_please.shown_text
    (renamed,) = await user.send("Work phone")
    assert "Renamed to Work phone" in renamed.shown_text
    (listing,) = await user.send("/devices")
    assert "Work phone" in listing.shown_text


async def test_removing_one_of_two_devices(chat_bot: Harness) -> None:
    user = chat_bot.user()
    phone, _ = await enrol(user, "Phone")
    await enrol(user, "Tablet", proof_secret=phone)
    (listing,) = await user.send("/devices")
    await user.press(listing, "Remove Tablet")
    (removed,) = await user.send(code_for(chat_bot, phone))
    assert "Tablet is removed" in removed.shown_text and "1 device" in removed.shown_text
    (listing,) = await user.send("/devices")
    assert "Tablet" not in listing.shown_text


async def test_removing_the_last_device_needs_a_second_yes(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    (listing,) = await user.send("/devices")
    await user.press(listing, "Remove Phone")
    (confirm,) = await user.send(code_for(chat_bot, secret))
    assert "last device" in confirm.shown_text and buttons(confirm) == [
        "Yes, turn 2FA off",
        "Keep it",
    ]
    await user.press(confirm, "Keep it")
    (status,) = await user.send("/status")
    assert "2FA is active" in status.shown_text
    await user.press(listing, "Remove Phone")
    chat_bot.clock.advance(seconds=30)
    (confirm,) = await user.send(code_for(chat_bot, secret))
    (off,) = await user.press(confirm, "Yes, turn 2FA off")
    assert "2FA is now off" in off.shown_text
    (status,) = await user.send("/status")
    assert "not set up" in status.shown_text


async def test_a_stale_remove_button_without_a_code_does_nothing(chat_bot: Harness) -> None:
    user = chat_bot.user()
    await enrol(user, "Phone")
    (listing,) = await user.send("/devices")
    device_id = dict(listing.buttons)["Remove Phone"].split(":")[-1]
    assert await user.press_data(listing, f"v1:dev.rmy:{device_id}") == []
    assert user.last_answer["text"] == "This button is no longer valid."
    (status,) = await user.send("/status")
    assert "2FA is active" in status.shown_text


async def test_new_recovery_codes_after_a_code(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, old = await enrol(user, "Phone")
    (status,) = await user.send("/recovery")
    assert "10 unused recovery codes" in status.shown_text.replace("code(s)", "codes")
    await user.press(status, "New recovery codes")
    (fresh,) = await user.send(code_for(chat_bot, secret))
    new = CODE.findall(fresh.shown_text)
    assert len(new) == 10 and not set(new) & set(old)
    verifier = chat_bot.app.bot_data["services"].verification
    assert (await verifier.verify("tg:1001", old[0], actor="api")).result.value == "rejected"
    assert (await verifier.verify("tg:1001", new[0], actor="api")).result.value == "accepted"


async def test_lost_device_recovered_with_a_code_and_no_agent(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, codes = await enrol(user, "Old phone")
    (choice,) = await user.send("/lost")
    (ask,) = await user.press(choice, "Use a recovery code")
    assert "Send one of your recovery codes" in ask.shown_text
    (refused,) = await user.send("0000-0000-0000-0000")
    assert "does not work" in refused.shown_text
    (ok,) = await user.send(codes[0].upper())
    assert "Recovery code accepted (9 left)" in ok.shown_text
    assert buttons(ok) == ["Set up a new device", "Remove Old phone"]
    (confirm,) = await user.press(ok, "Remove Old phone")
    assert "last device" in confirm.shown_text  # turning 2FA off always needs the second yes
    (removed,) = await user.press(confirm, "Yes, turn 2FA off")
    assert "2FA is now off" in removed.shown_text
    answer = await user.press(ok, "Set up a new device")
    photo = next(m for m in answer if m.photo is not None)
    new_secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    await user.send(code_for(chat_bot, new_secret))
    (summary,) = await user.send("New phone")
    await user.press(summary, "Complete activation")
    (status,) = await user.send("/status")
    assert "New phone" in status.shown_text and "Old phone" not in status.shown_text


async def test_a_recovery_code_also_proves_a_new_device(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, codes = await enrol(user, "Phone")
    (ask,) = await user.send("/enroll")
    assert "already has 2FA" in ask.shown_text
    answer = await user.send(codes[0])
    assert any(m.photo is not None for m in answer)


async def test_check_accepts_a_recovery_code_once(chat_bot: Harness) -> None:
    user = chat_bot.user()
    _, codes = await enrol(user, "Phone")
    (first,) = await user.send(f"/check {codes[0]}")
    assert "Recovery code accepted" in first.shown_text and "9 left" in first.shown_text
    (again,) = await user.send(f"/check {codes[0]}")
    assert "not right" in again.shown_text


async def test_an_app_code_at_the_recovery_prompt_is_not_spent(chat_bot: Harness) -> None:
    user = chat_bot.user()
    secret, _ = await enrol(user, "Phone")
    (choice,) = await user.send("/lost")
    await user.press(choice, "Use a recovery code")
    code = code_for(chat_bot, secret)
    (answer,) = await user.send(code)
    assert "looks like a code from your app" in answer.shown_text
    (stopped,) = await user.send("/cancel")
    assert stopped.text == "Stopped using a recovery code. Nothing was changed."
    (check,) = await user.send(f"/check {code}")
    assert "Code accepted" in check.shown_text  # it was not used up
    typed = [m for m in chat_bot.state.user_messages(user.chat_id) if m.text == code]
    assert typed and typed[0].deleted


async def test_everyone_who_manages_the_account_is_told(chat_bot: Harness) -> None:
    ann = chat_bot.user(1001, "Ann")
    secret, codes = await enrol(ann, "Phone")
    # Bo manages the same account through an enrolment link (and a code: it has 2FA).
    services = chat_bot.app.bot_data["services"]
    link = await services.links.mint("tg:1001")
    bo = chat_bot.user(2002, "Bo")
    await bo.send(f"/start {link.token}")
    await bo.send(code_for(chat_bot, secret))
    chat_bot.clock.advance(seconds=30)  # Ann's next code
    await enrol(ann, "Tablet", proof_secret=secret)
    await chat_bot.run_job("notices")
    assert "Tablet" in bo.last().shown_text and "was added" in bo.last().shown_text
    await services.verification.verify("tg:1001", codes[0], actor="api")
    await chat_bot.run_job("notices")
    assert "recovery code was used" in bo.last().shown_text and "9 left" in bo.last().shown_text
    assert "recovery code was used" in ann.last().shown_text
