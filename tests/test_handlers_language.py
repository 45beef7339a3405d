"""German and English through PTB's Application: what a user reads follows their Telegram
app's language (``de``, ``de-AT``, ``de-CH`` German, anything else English) until they
pick one with /language, which keeps a waiting flow going; a notice is in its reader's
language; the support and ops chats speak their own (SUPPORT_LANGUAGE, OPS_LANGUAGE)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import FakeClock
from core.config import Settings
from demo.botapi import SimMessage
from tests.harness import Harness, code_for, enrol, running_bot, wrong
from tests.helpers import CODE, MONTHS, decode_qr, parse_key_uri

SUPPORT, OPS = -100500, -100700
AGENT = 9001
# What a user reads at each step, written out here, not read from the catalogue.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "protects your account with two-factor authentication",
        "set_up": "Set up 2FA",
        "lost_button": "Lost my authenticator",
        "scan": "Step 1: scan this QR code",
        "show_key": "Show key",
        "cancel": "Cancel",
        "manual": "Key for manual entry",
        "six_digits": "A code has 6 digits, and that was 5",
        "confirmed": "Code confirmed",
        "name_it": "name this device",
        "ready": "Ready to activate",
        "complete": "Complete activation",
        "active": "2FA is active",
        "recovery": "Your recovery codes",
        "saved": "I have saved them",
        "added": "added",
        "check_ask": "Send me the 6-digit code your authenticator app shows now",
        "accepted": "Code accepted",
        "not_right": "That code is not right",
        "four_left": "4 tries left",
        "one_left": "1 try left",
        "locked": "Locked",
        "lost_choice": "Lost access to your authenticator?",
        "use_recovery": "Use a recovery code",
        "ask_support": "Ask support",
        "explain": "Support can turn 2FA off",
        "send_it": "Send it?",
        "send_to_support": "Send to support",
        "filed": "is with support",
        "withdraw": "Withdraw the request",
        "approved": "Support approved request #1",
        "password_alone": "password alone",
        "set_up_new": "Set up a new device",
        "no_device": "No device is set up",
        "your_devices": "Your devices",
        "last_used": "last used",
        "rename": "Rename Phone",
        "remove": "Remove Phone",
        "rename_ask": "To rename Phone, first send a current 6-digit code",
        "new_name": "Send the new name for Phone",
        "renamed": "Renamed to Work phone",
        "remove_work": "Remove Work phone",
        "remove_ask": "To remove Work phone, first send a current 6-digit code",
        "last_device": "Work phone is your last device",
        "turn_off": "Yes, turn 2FA off",
        "keep_it": "Keep it",
        "kept": "Nothing was removed.",
    },
    "de": {
        "greeting": "schützt Ihr Konto mit Zwei-Faktor-Authentisierung",
        "set_up": "2FA einrichten",
        "lost_button": "Authenticator verloren",
        "scan": "Schritt 1: Scannen Sie diesen QR-Code",
        "show_key": "Schlüssel anzeigen",
        "cancel": "Abbrechen",
        "manual": "Schlüssel zur manuellen Eingabe",
        "six_digits": "Ein Code hat 6 Ziffern, Ihre Eingabe hatte 5",
        "confirmed": "Code bestätigt",
        "name_it": "Benennen Sie dieses Gerät",
        "ready": "Bereit zur Aktivierung",
        "complete": "Aktivierung abschließen",
        "active": "2FA ist aktiv",
        "recovery": "Ihre Wiederherstellungscodes",
        "saved": "Ich habe sie gespeichert",
        "added": "hinzugefügt am",
        "check_ask": "Senden Sie mir den 6-stelligen Code, den Ihre Authenticator-App jetzt",
        "accepted": "Code akzeptiert",
        "not_right": "Dieser Code ist nicht richtig",
        "four_left": "noch 4 Versuche",
        "one_left": "noch 1 Versuch,",
        "locked": "Gesperrt",
        "lost_choice": "Kein Zugriff mehr auf Ihre Authenticator-App?",
        "use_recovery": "Wiederherstellungscode",
        "ask_support": "Support kontaktieren",
        "explain": "Der Support kann 2FA",
        "send_it": "Absenden?",
        "send_to_support": "An den Support senden",
        "filed": "liegt beim Support",
        "withdraw": "Antrag zurückziehen",
        "approved": "Der Support hat Antrag #1 genehmigt",
        "password_alone": "genügt für die Anmeldung Ihr Passwort",
        "set_up_new": "Neues Gerät einrichten",
        "no_device": "ist kein Gerät eingerichtet",
        "your_devices": "Ihre Geräte",
        "last_used": "zuletzt verwendet:",
        "rename": "Phone umbenennen",
        "remove": "Phone entfernen",
        "rename_ask": "Um Phone umzubenennen, senden Sie zuerst einen aktuellen 6-stelligen Code",
        "new_name": "Senden Sie den neuen Namen für Phone",
        "renamed": "Umbenannt in Work phone",
        "remove_work": "Work phone entfernen",
        "remove_ask": "Um Work phone zu entfernen, senden Sie zuerst",
        "last_device": "Work phone ist Ihr letztes Gerät",
        "turn_off": "Ja, 2FA ausschalten",
        "keep_it": "Behalten",
        "kept": "Es wurde nichts entfernt.",
    },
}

# Telegram's language_code -> the language the bot answers in.
TELEGRAM_CODES = [("de", "de"), ("de-AT", "de"), ("de-CH", "de"), ("en", "en"), ("fr", "en")]
BOTH = ["en", "de"]


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, support_chat_id=SUPPORT, support_agent_ids=frozenset({AGENT})
    )


def shown_time(moment: datetime, language: str) -> str:
    """A time as a reader of ``language`` sees it with TIMEZONE=UTC: "1 March 2026,
    09:16 UTC" / "1. März 2026, 09:16 UTC"."""
    at = moment.astimezone(UTC)
    day = f"{at.day}." if language == "de" else str(at.day)
    return f"{day} {MONTHS[language][at.month - 1]} {at.year}, {at:%H:%M} UTC"


def shown_day(moment: datetime, language: str) -> str:
    """The day alone: "1 March 2026" / "1. März 2026"."""
    return shown_time(moment, language).rsplit(",", 1)[0]


def labels(message: SimMessage) -> list[str]:
    return [label for label, _ in message.buttons]


@pytest.mark.parametrize(("telegram", "language"), TELEGRAM_CODES)
async def test_enrolment_in_the_language_of_the_telegram_app(
    chat_bot: Harness, telegram: str, language: str
) -> None:
    words = WORDS[language]
    user = chat_bot.user(1001, "Philipp", "philipp", language_code=telegram)
    (greeting,) = await user.send("/start")
    assert words["greeting"] in greeting.shown_text
    assert labels(greeting) == [words["set_up"], words["lost_button"]]

    (photo,) = await user.send("/enroll")
    assert words["scan"] in photo.shown_caption and "2FA Desk" in photo.shown_caption
    assert labels(photo) == [words["show_key"], words["cancel"]]
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    (key,) = await user.press(photo, words["show_key"])
    assert words["manual"] in key.shown_text and secret[:4] in key.shown_text

    (short,) = await user.send("12345")
    assert words["six_digits"] in short.shown_text
    (ask_name,) = await user.send(code_for(chat_bot, secret))
    assert words["confirmed"] in ask_name.shown_text and words["name_it"] in ask_name.shown_text
    (summary,) = await user.send("Philipp iPhone")
    assert words["ready"] in summary.shown_text and "Philipp iPhone" in summary.shown_text
    assert labels(summary) == [words["complete"], words["cancel"]]

    answer = await user.press(summary, words["complete"])
    done = chat_bot.state.current(summary)
    assert words["active"] in done.shown_text and "Philipp iPhone" in done.shown_text
    (codes,) = [m for m in answer if words["recovery"] in m.shown_text]
    assert len(CODE.findall(codes.shown_text)) == 10 and labels(codes) == [words["saved"]]
    assert chat_bot.state.current(photo).deleted and chat_bot.state.current(key).deleted

    (status,) = await user.send("/status")
    today = shown_day(chat_bot.clock.now(), language)
    assert words["active"] in status.shown_text
    assert f"{words['added']} {today}" in status.shown_text


@pytest.mark.parametrize("language", BOTH)
async def test_check_in_the_users_language(chat_bot: Harness, language: str) -> None:
    words = WORDS[language]
    user = chat_bot.user(1001, language_code=language)
    secret, _ = await enrol(user, complete=WORDS[language]["complete"])
    (ask,) = await user.send("/check")
    assert words["check_ask"] in ask.shown_text
    (accepted,) = await user.send(code_for(chat_bot, secret))
    assert words["accepted"] in accepted.shown_text and "Phone" in accepted.shown_text

    bad = wrong(chat_bot, secret)
    answers = [(await user.send(f"/check {bad}"))[0].shown_text for _ in range(4)]
    assert words["not_right"] in answers[0] and words["four_left"] in answers[0]
    assert words["one_left"] in answers[3]
    (locked,) = await user.send(f"/check {bad}")
    until = shown_time(chat_bot.clock.now() + timedelta(minutes=15), language)
    assert words["locked"] in locked.shown_text and until in locked.shown_text


@pytest.mark.parametrize("language", BOTH)
async def test_lost_with_approval_in_the_users_language(chat_bot: Harness, language: str) -> None:
    words = WORDS[language]
    user = chat_bot.user(1001, "Ann", "ann", language_code=language)
    await enrol(user, complete=WORDS[language]["complete"])
    (choice,) = await user.send("/lost")
    assert words["lost_choice"] in choice.shown_text
    assert labels(choice) == [words["use_recovery"], words["ask_support"]]
    (explain,) = await user.press(choice, words["ask_support"])
    assert words["explain"] in explain.shown_text
    (preview,) = await user.send("Phone lost on a trip")
    assert words["send_it"] in preview.shown_text
    assert labels(preview) == [words["send_to_support"], words["cancel"]]
    (filed,) = await user.press(preview, words["send_to_support"])
    assert words["filed"] in filed.shown_text and labels(filed) == [words["withdraw"]]

    # The agent works in the support chat's language (English here), whatever the user's.
    agent = chat_bot.group_member(AGENT, SUPPORT)
    (request,) = chat_bot.state.messages(SUPPORT)
    assert "Deactivation request #1" in request.shown_text
    await agent.press(request, "Approve")
    await agent.press(chat_bot.state.current(request), "24 h")
    assert "Approved" in chat_bot.state.current(request).shown_text

    told = user.last()
    until = shown_time(chat_bot.clock.now() + timedelta(hours=24), language)
    assert words["approved"] in told.shown_text and until in told.shown_text
    assert words["password_alone"] in told.shown_text
    assert labels(told) == [words["set_up_new"]]
    (status,) = await user.send("/status")
    assert words["no_device"] in status.shown_text  # 2FA is required again after the window


@pytest.mark.parametrize("language", BOTH)
async def test_devices_in_the_users_language(chat_bot: Harness, language: str) -> None:
    words = WORDS[language]
    user = chat_bot.user(1001, language_code=language)
    secret, _ = await enrol(user, complete=WORDS[language]["complete"])
    await user.send(f"/check {code_for(chat_bot, secret)}")
    (listing,) = await user.send("/devices")
    today = shown_day(chat_bot.clock.now(), language)
    assert words["your_devices"] in listing.shown_text
    assert f"{words['added']} {today}" in listing.shown_text
    assert f"{words['last_used']} {today}" in listing.shown_text
    assert labels(listing) == [words["rename"], words["remove"]]

    (ask,) = await user.press(listing, words["rename"])
    assert words["rename_ask"] in ask.shown_text
    chat_bot.clock.advance(seconds=30)  # the code of /check is used up
    (name_please,) = await user.send(code_for(chat_bot, secret))
    assert words["new_name"] in name_please.shown_text
    (renamed,) = await user.send("Work phone")
    assert words["renamed"] in renamed.shown_text

    (listing,) = await user.send("/devices")
    (ask,) = await user.press(listing, words["remove_work"])
    assert words["remove_ask"] in ask.shown_text
    chat_bot.clock.advance(seconds=30)
    (confirm,) = await user.send(code_for(chat_bot, secret))
    assert words["last_device"] in confirm.shown_text
    assert labels(confirm) == [words["turn_off"], words["keep_it"]]
    (kept,) = await user.press(confirm, words["keep_it"])
    assert words["kept"] in kept.shown_text


async def test_language_picked_while_an_enrolment_waits_for_the_code(chat_bot: Harness) -> None:
    user = chat_bot.user(1001, language_code="en")
    (photo,) = await user.send("/enroll")
    assert WORDS["en"]["scan"] in photo.shown_caption
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]

    (ask,) = await user.send("/language")
    assert ask.shown_text == "Which language should I use?"
    assert labels(ask) == ["English", "Deutsch"]
    answer = await user.press(ask, "Deutsch")
    assert chat_bot.state.current(ask).shown_text == "Ab jetzt schreibe ich Ihnen auf Deutsch."
    # The enrolment still waits, and says so in the new language.
    (reminder,) = [m for m in answer if m.message_id != ask.message_id]
    assert reminder.shown_text == (
        "Sie haben einen Vorgang begonnen: Einrichtung eines neuen Geräts. Senden Sie den "
        "6-stelligen Bestätigungscode, den Ihre App anzeigt, oder brechen Sie mit /cancel ab."
    )

    (ask_name,) = await user.send(code_for(chat_bot, secret))
    assert "Code bestätigt" in ask_name.shown_text
    (summary,) = await user.send("Phone")
    assert "Bereit zur Aktivierung" in summary.shown_text
    await user.press(summary, "Aktivierung abschließen")
    assert "2FA ist aktiv" in chat_bot.state.current(summary).shown_text
    assert chat_bot.state.current(photo).deleted  # the same enrolment ended as always

    # The pick stays, whatever the Telegram app says.
    (greeting,) = await user.send("/start")
    assert WORDS["de"]["greeting"] in greeting.shown_text


async def test_a_picked_language_wins_over_the_telegram_app_mid_check(chat_bot: Harness) -> None:
    user = chat_bot.user(1001, language_code="de-AT")
    secret, _ = await enrol(user, complete=WORDS["de"]["complete"])
    (ask,) = await user.send("/check")
    assert WORDS["de"]["check_ask"] in ask.shown_text
    (which,) = await user.send("/language")
    assert which.shown_text == "Welche Sprache soll ich verwenden?"
    answer = await user.press(which, "English")
    assert chat_bot.state.current(which).shown_text == "From now on I write to you in English."
    (reminder,) = [m for m in answer if m.message_id != which.message_id]
    assert reminder.shown_text.startswith("You are checking a code: send the 6-digit code")

    (refused,) = await user.send(wrong(chat_bot, secret))  # the check goes on, in English
    assert "That code is not right" in refused.shown_text and "4 tries left" in refused.shown_text
    (again,) = await user.send("/check")
    assert WORDS["en"]["check_ask"] in again.shown_text
    (status,) = await user.send("/status")
    assert WORDS["en"]["active"] in status.shown_text


async def test_the_language_is_read_once_while_the_app_reports_the_same(
    chat_bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = chat_bot.app.bot_data["services"]
    asked: list[tuple[int, str | None]] = []
    for_update = services.languages.for_update

    async def counted(user_id: int, telegram_code: str | None) -> str:
        asked.append((user_id, telegram_code))
        return await for_update(user_id, telegram_code)

    monkeypatch.setattr(services.languages, "for_update", counted)
    user = chat_bot.user(1001, language_code="en")
    for _ in range(3):
        (greeting,) = await user.send("/start")
        assert WORDS["en"]["greeting"] in greeting.shown_text
    assert asked == [(1001, "en")]

    # The app switched to German: asked again, and kept for the notices sent later.
    chat_bot.user(1001, language_code="de")
    (greeting,) = await user.send("/start")
    assert WORDS["de"]["greeting"] in greeting.shown_text
    assert asked == [(1001, "en"), (1001, "de")]
    assert await services.languages.of([1001]) == {1001: "de"}

    # A pick with /language wins at once, without asking again.
    (which,) = await user.send("/language")
    await user.press(which, "English")
    (greeting,) = await user.send("/start")
    assert WORDS["en"]["greeting"] in greeting.shown_text
    assert asked == [(1001, "en"), (1001, "de")]
    assert await services.languages.of([1001]) == {1001: "en"}


async def test_a_notice_is_in_the_language_of_whoever_reads_it(chat_bot: Harness) -> None:
    services = chat_bot.app.bot_data["services"]
    ann = chat_bot.user(1001, "Ann", "ann", language_code="en")
    secret, _ = await enrol(ann, complete=WORDS["en"]["complete"])
    await chat_bot.run_job("notices")

    # Bo, who reads German, manages the same account through a link and Ann's code.
    bo = chat_bot.user(2002, "Bo", "bo", language_code="de")
    (ask,) = await bo.send(f"/start {(await services.links.mint('tg:1001')).token}")
    assert "tg:1001 hat 2FA" in ask.shown_text
    (bound,) = await bo.send(code_for(chat_bot, secret))
    assert "Code akzeptiert. Dieser Chat verwaltet jetzt tg:1001" in bound.shown_text
    await chat_bot.run_job("notices")
    told = ann.last().shown_text  # Bo's doing, in Ann's English
    assert "Bo @bo (Telegram id 2002) now manages tg:1001 from Telegram too" in told

    # Ann adds a device: Bo reads of it in German.
    chat_bot.clock.advance(seconds=30)
    (proof,) = await ann.send("/enroll")
    assert "already has 2FA" in proof.shown_text
    (photo,) = [m for m in await ann.send(code_for(chat_bot, secret)) if m.photo is not None]
    tablet = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    await ann.send(code_for(chat_bot, tablet))
    (summary,) = await ann.send("Tablet")
    await ann.press(summary, "Complete activation")
    await chat_bot.run_job("notices")
    assert bo.last().shown_text.startswith(
        "🔐 Ein Gerät, Tablet, wurde der 2FA für tg:1001 hinzugefügt. Falls Sie das nicht "
        "waren, entfernen Sie es mit /devices"
    )
    (status,) = await bo.send("/status")
    assert "Über Telegram verwaltet von" in status.shown_text
    assert f"Ann @ann, seit {shown_day(chat_bot.clock.now(), 'de')}" in status.shown_text


async def test_the_support_chat_reads_german_while_the_user_reads_english(
    chat_settings: Settings, clock: FakeClock
) -> None:
    german_desk = dataclasses.replace(chat_settings, support_language="de")
    async with running_bot(german_desk, clock) as chat_bot:
        chat_bot.state.group(SUPPORT, "Support")
        user = chat_bot.user(1001, "Ann", "ann", language_code="en")
        await enrol(user, complete=WORDS["en"]["complete"])
        (choice,) = await user.send("/lost")
        await user.press(choice, "Ask support")
        (preview,) = await user.send("Phone lost on a trip")
        (filed,) = await user.press(preview, "Send to support")
        assert "Your request #1 is with support" in filed.shown_text

        (request,) = chat_bot.state.messages(SUPPORT)
        created = shown_time(chat_bot.clock.now(), "de")
        for line in (
            "🆘 Antrag auf Deaktivierung #1",
            "Konto: tg:1001",
            "Telegram: Ann @ann (ID 1001)",
            f"Gesendet: {created}",
            f"• Phone, hinzugefügt am {shown_day(chat_bot.clock.now(), 'de')}",
            "Fehlgeschlagene Prüfungen in den letzten 24 Std.: 0",
            "Frühere Anträge: keine",
            "Begründung: Phone lost on a trip",
        ):
            assert line in request.shown_text
        assert labels(request) == ["Genehmigen", "Ablehnen"]

        agent = chat_bot.group_member(AGENT, SUPPORT)
        await agent.press(request, "Genehmigen")
        choices = chat_bot.state.current(request)
        assert "Für wie lange genehmigen?" in choices.shown_text
        assert labels(choices) == ["4 Std.", "12 Std.", "24 Std.", "3 Tage", "Zurück"]
        day = dict(choices.buttons)["24 Std."]
        await agent.press(choices, "24 Std.")
        decided = chat_bot.state.current(request).shown_text
        until = chat_bot.clock.now() + timedelta(hours=24)
        assert f"2FA aus bis {shown_time(until, 'de')}" in decided and "Genehmigt von" in decided

        # The user is told in their own language, not the agent's.
        told = user.last().shown_text
        assert told.startswith("✅ Support approved request #1: 2FA is off for tg:1001 until")
        assert shown_time(until, "en") in told

        # A late press: the status in the support chat's language.
        await agent.press_data(chat_bot.state.current(request), day)
        assert agent.last_answer["text"].startswith("Bereits von")
        assert agent.last_answer["text"].endswith("genehmigt.")


async def test_alerts_in_the_ops_chats_language(settings: Settings, clock: FakeClock) -> None:
    german_ops = dataclasses.replace(settings, ops_chat_id=OPS, ops_language="de")
    async with running_bot(german_ops, clock) as chat_bot:
        chat_bot.state.group(OPS, "Ops")
        await chat_bot.run_job("alerts")
        started = chat_bot.state.messages(OPS)[0].shown_text
        assert started.startswith("🔵 INFO · Bot gestartet")
        assert f"Zeitpunkt: {shown_time(chat_bot.clock.now(), 'de')}" in started

        user = chat_bot.user(1001, language_code="en")
        secret, _ = await enrol(user, complete=WORDS["en"]["complete"])
        for _ in range(5):
            await user.send(f"/check {wrong(chat_bot, secret)}")
        await chat_bot.run_job("alerts")
        alert = chat_bot.state.messages(OPS)[-1].shown_text
        assert alert.startswith("🟠 WARNUNG · Konto nach falschen Codes gesperrt")
        until = shown_time(chat_bot.clock.now() + timedelta(minutes=15), "de")
        for line in (
            "Konto: tg:1001",
            "Fehlversuche: 5",
            f"bis: {until}",
            "Zu tun: Nichts, solange es sich nicht wiederholt",
        ):
            assert line in alert
        assert "Locked" in user.last().shown_text  # the user still reads English


async def test_times_in_the_configured_time_zone(settings: Settings, clock: FakeClock) -> None:
    """Each reader sees the zone as they name it: MEZ/MESZ in German, CET/CEST in English
    (not the "+0100" Babel falls back to where English has no name of its own)."""
    berlin = dataclasses.replace(settings, timezone="Europe/Berlin")
    async with running_bot(berlin, clock) as chat_bot:
        german = chat_bot.user(1001, language_code="de")
        english = chat_bot.user(1002, language_code="en")
        secret, _ = await enrol(german, complete=WORDS["de"]["complete"])
        english_secret, _ = await enrol(english, complete=WORDS["en"]["complete"])
        (status,) = await german.send("/status")
        # 09:00 UTC on 1 March is 10:00 in Berlin, winter time.
        assert "hinzugefügt am 1. März 2026, 10:00 MEZ" in status.shown_text
        (status,) = await english.send("/status")
        assert re.search(r"added 1 March 2026, 10:0\d CET\n", status.shown_text)
        chat_bot.clock.advance(days=130)  # July: summer time, two hours ahead of UTC
        await german.send(f"/check {code_for(chat_bot, secret)}")
        await english.send(f"/check {code_for(chat_bot, english_secret)}")
        (listing,) = await german.send("/devices")
        berlin_now = chat_bot.clock.now() + timedelta(hours=2)
        assert (
            f"zuletzt verwendet: {berlin_now.day}. Juli 2026, {berlin_now:%H:%M} MESZ"
            in listing.shown_text
        )
        (listing,) = await english.send("/devices")
        assert (
            f"last used {berlin_now.day} July 2026, {berlin_now:%H:%M} CEST" in listing.shown_text
        )


async def test_the_command_menu_in_both_languages(chat_bot: Harness) -> None:
    menus = {language: commands for (_, language), commands in chat_bot.state.my_commands.items()}
    english = {c["command"]: c["description"] for c in menus[""]}
    german = {c["command"]: c["description"] for c in menus["de"]}
    assert english.keys() == german.keys() and "language" in german
    assert german["enroll"] == "2FA auf einem Gerät einrichten"
    assert german["lost"] == "Authenticator-App verloren?"
    assert english["enroll"] == "Set up 2FA on a device"


def test_no_text_is_translated_once_at_import() -> None:
    """A message translated where a module is imported would be English for everyone."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    modules = sorted((root / "handlers").glob("*.py")) + sorted((root / "bot").glob("*.py"))
    assert len(modules) > 10, f"no modules found under {root}"
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            calls = [
                n
                for n in ast.walk(node)
                if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and n.func.id in ("tr", "trn")
            ]
            assert not calls, f"{path}:{node.lineno} translates at import"
