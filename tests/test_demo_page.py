"""The demo's chat page in a real browser: ``python -m demo`` (what ``make demo`` runs),
headless Chromium driven by Playwright, a user enrolling with the page's authenticator,
an agent approving a request in the support chat, the login panel calling the API.

Chromium is Debian's (``/usr/bin/chromium``, installed by .ci/run); Playwright never
downloads a browser of its own.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright

from tests.helpers import app_code

# One process runs the module: the demo and the browser are started once for it.
pytestmark = pytest.mark.xdist_group("demo_page")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPLY_MS = 20_000
#: Where the screenshot mid-enrolment goes: docs/demo.png when DEMO_SCREENSHOT names it.
SCREENSHOT = os.environ.get("DEMO_SCREENSHOT")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m demo`` on free ports, until the module ends."""
    log = tmp_path_factory.mktemp("demo") / "demo.err"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
        )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().decode() if ready else ""
        found = re.search(r"open (http://127\.0\.0\.1:\d+) ", line)
        assert found, f"no URL from python -m demo: {line!r} {log.read_text()[-2000:]}"
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        process.stdout.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the page tests need Chromium at {CHROMIUM} (.ci/run installs it)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext, demo_url: str) -> Iterator[Page]:
    page = browser.new_page()
    page.goto(demo_url)
    expect(page.locator("#chat-list li").first).to_be_visible()
    yield page
    page.close()


# ---------------------------------------------------------------------------- the user's side


def send(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def bot_message(page: Page, text: str) -> Locator:
    """The bot's latest message in the open chat that shows ``text``, once it is there."""
    message = page.locator(".msg.bot", has_text=text).last
    expect(message).to_be_visible(timeout=REPLY_MS)
    return message


def press(message: Locator, label: str) -> None:
    message.locator(".keyboard button", has_text=label).click()


def open_chat(page: Page, name: str) -> None:
    page.locator(f'#chat-list li:has(.name:text-is("{name}"))').click()
    expect(page.locator("#chat-title")).to_have_text(name)


def add_user(page: Page, name: str) -> None:
    page.fill("#new-name", name)
    page.click("#add-user button")
    expect(page.locator("#chat-title")).to_have_text(name)
    # The chat list follows the title a moment later: its active entry is the new user's.
    expect(page.locator("#chat-list li.active .name")).to_have_text(name)


def enrol(page: Page, device: str) -> str:
    """Set up a device for the user whose chat is open, with the page's authenticator;
    the code it sent."""
    send(page, "/enroll")
    bot_message(page, "scan this QR code")
    entry = page.locator(".auth-entry").first
    expect(entry).to_be_visible(timeout=REPLY_MS)
    code = entry.locator(".code").inner_text().replace(" ", "")
    entry.locator(".send-code").click()
    bot_message(page, "Code confirmed")
    send(page, device)
    press(bot_message(page, "Ready to activate"), "Complete activation")
    bot_message(page, "2FA is active")
    return code


def test_a_user_enrols_in_the_page_with_its_authenticator(page: Page) -> None:
    expect(page.locator("#chat-title")).to_have_text("Anna")
    send(page, "/start")
    bot_message(page, "protects your account")

    send(page, "/enroll")
    qr = bot_message(page, "scan this QR code")
    expect(qr.locator("img.photo")).to_be_visible()
    expect(qr.locator(".protected")).to_be_visible()  # sent with content protection

    press(qr, "Show key")
    key_message = bot_message(page, "Key for manual entry")
    key = key_message.locator("code").first.inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", key)

    # The page's authenticator shows the code an app with that key shows.
    entry = page.locator(".auth-entry").first
    expect(entry).to_be_visible(timeout=REPLY_MS)
    shown = entry.locator(".code").inner_text().replace(" ", "")
    now = time.time()
    assert shown in {app_code(key, now - 30), app_code(key, now), app_code(key, now + 30)}
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT)

    entry.locator(".send-code").click()
    bot_message(page, "Code confirmed")
    send(page, "Anna's phone")
    summary = bot_message(page, "Ready to activate")
    press(summary, "Complete activation")
    bot_message(page, "2FA is active")

    # The QR code and the key leave the chat; the app keeps its entry.
    expect(page.locator(".msg img.photo")).to_have_count(0)
    expect(page.locator(".msg", has_text="Key for manual entry")).to_have_count(0)
    expect(page.locator(".auth-entry")).to_have_count(1)


def test_an_agent_approves_a_lost_request_in_the_support_chat(page: Page) -> None:
    add_user(page, "Ben")
    enrol(page, "Ben's phone")

    send(page, "/lost")
    press(bot_message(page, "Lost access"), "Ask support")
    bot_message(page, "Support can turn 2FA off")
    send(page, "Phone fell into the lake")
    press(bot_message(page, "Send it?"), "Send to support")
    bot_message(page, "is with support")

    open_chat(page, "Support desk")
    expect(page.locator("#sender")).to_have_value("7001")  # the agent writes and presses
    request = bot_message(page, "Phone fell into the lake")
    press(request, "Approve")
    press(bot_message(page, "for how long"), "24 h")
    expect(page.locator(".msg.bot", has_text="Approved").last).to_be_visible(timeout=REPLY_MS)

    open_chat(page, "Ben")
    bot_message(page, "Support approved request")


def test_the_login_panel_calls_the_api(page: Page) -> None:
    add_user(page, "Carla")
    carla = page.locator("#chat-list li.active").get_attribute("data-chat")
    used = enrol(page, "Carla's tablet")

    # An enrolment link, minted by the "login system" and opened by a German-speaking user.
    page.fill("#link-account", "carla.work@example.com")
    page.click("#link-form button[type=submit]")
    expect(page.locator("#api-answer")).to_contain_text('"url": "https://t.me/')
    open_chat(page, "Jonas")
    expect(page.locator("#link-open")).to_have_text("Open as Jonas")
    page.click("#link-open")
    bot_message(page, "Dieser Chat verwaltet jetzt das Konto")

    open_chat(page, "Carla")
    page.click("#account-form button")
    expect(page.locator("#api-answer")).to_contain_text('"enrolled": true')

    # A code from the authenticator, once it shows a new one (the enrolment used the first).
    code = page.locator(".auth-entry .code").first
    expect(code).not_to_have_text(f"{used[:3]} {used[3:]}", timeout=35_000)
    page.locator(".auth-entry .use-code").first.click()
    expect(page.locator("#verify-account")).to_have_value(f"tg:{carla}")
    page.click("#verify-form button")
    expect(page.locator("#api-request")).to_have_text("POST /v1/verify → 200")
    expect(page.locator("#api-answer")).to_contain_text('"result": "accepted"')


def test_the_login_panel_asks_for_approval_and_the_user_presses_its_number(page: Page) -> None:
    add_user(page, "Dora")
    dora = page.locator("#chat-list li.active").get_attribute("data-chat")
    enrol(page, "Dora's phone")

    expect(page.locator("#challenge-account")).to_have_value(f"tg:{dora}")
    page.fill("#challenge-app", "VPN")
    page.fill("#challenge-ip", "203.0.113.7")
    page.fill("#challenge-place", "Berlin, DE")
    page.click("#challenge-form button[type=submit]")
    expect(page.locator("#challenge-number")).to_have_text(re.compile(r"^[0-9]{2}$"))
    shown = page.locator("#challenge-number").inner_text()
    expect(page.locator("#challenge-status")).to_have_text("pending")

    # Dora's chat: the login's context, three numbers (the panel's among them) and
    # "This wasn't me".
    message = bot_message(page, "Is this you, logging in?")
    expect(message).to_contain_text("App: VPN")
    expect(message).to_contain_text("Address: 203.0.113.7")
    expect(message).to_contain_text("Place: Berlin, DE")
    buttons = message.locator(".keyboard button")
    expect(buttons).to_have_count(4)
    expect(buttons.last).to_have_text("This wasn't me")
    numbers = buttons.all_inner_texts()[:3]
    assert all(re.fullmatch(r"[0-9]{2}", n) for n in numbers), numbers
    assert shown in numbers

    # The long poll answers the press: accepted, and the message says so.
    message.get_by_role("button", name=shown, exact=True).click()
    expect(page.locator("#challenge-status")).to_have_text("accepted", timeout=REPLY_MS)
    expect(page.locator("#api-request")).to_contain_text(re.compile(r"GET /v1/challenges/\w+"))
    expect(page.locator("#api-answer")).to_contain_text('"status": "accepted"')
    bot_message(page, "Approved")
    expect(page.locator("#challenge-cancel")).to_be_hidden()
