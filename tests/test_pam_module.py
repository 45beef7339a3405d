"""deploy/pam/twofa_desk.py in this process, with a stand-in for libpam-python's handle:
which results let a login in, and what goes to the auth log (tests/test_e2e_pam.py runs
it for real, under pamtester)."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e import ROOT

spec = importlib.util.spec_from_file_location("twofa_desk_pam", ROOT / "deploy/pam/twofa_desk.py")
assert spec is not None and spec.loader is not None
pam: ModuleType = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pam)


class PamError(Exception):
    def __init__(self, pam_result: int) -> None:
        super().__init__(pam_result)
        self.pam_result = pam_result


class FakeHandle:
    """The part of libpam-python's ``pamh`` the module uses."""

    PAM_SUCCESS, PAM_AUTH_ERR, PAM_IGNORE = 0, 7, 25
    PAM_PROMPT_ECHO_OFF, PAM_TEXT_INFO = 1, 4
    exception = PamError

    def __init__(self, user: str, answer: str) -> None:
        self.user = user
        self.answer = answer
        self.shown: list[str] = []

    def get_user(self, prompt: str | None) -> str:
        return self.user

    class Message:
        def __init__(self, style: int, text: str) -> None:
            self.msg_style = style
            self.msg = text

    class Response:
        def __init__(self, resp: str | None) -> None:
            self.resp = resp
            self.resp_retcode = 0

    def conversation(self, message: Any) -> Any:
        if message.msg_style == self.PAM_PROMPT_ECHO_OFF:
            return self.Response(self.answer)
        self.shown.append(message.msg)
        return self.Response(None)


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(pam, "log", lambda priority, message: lines.append(message))
    return lines


def token_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "token"
    path.write_text("a-token-of-the-login-host\n")
    path.chmod(mode)
    return path


def argv(token: Path, url: str = "http://127.0.0.1:9", **extra: str) -> list[str]:
    options = [f"url={url}", f"token_file={token}", *(f"{k}={v}" for k, v in extra.items())]
    return ["/path/twofa_desk.py", *options]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"result": "accepted", "method": "totp"}, FakeHandle.PAM_SUCCESS),
        ({"result": "deactivated", "until": "2026-03-02T09:00:00Z"}, FakeHandle.PAM_SUCCESS),
        ({"result": "rejected", "tries_left": 4}, FakeHandle.PAM_AUTH_ERR),
        ({"result": "locked", "locked_until": "2026-03-01T09:15:00Z"}, FakeHandle.PAM_AUTH_ERR),
        ({"result": "not_enrolled"}, FakeHandle.PAM_AUTH_ERR),
        ({"result": "enrollment_required"}, FakeHandle.PAM_AUTH_ERR),
        ({"result": "something new"}, FakeHandle.PAM_AUTH_ERR),
        ({}, FakeHandle.PAM_AUTH_ERR),
    ],
)
def test_only_accepted_or_deactivated_let_a_login_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: list[str], body: Any, expected: int
) -> None:
    sent: list[tuple[str, str]] = []

    def verify(options: dict[str, str], account: str, code: str) -> Any:
        sent.append((account, code))
        return body

    monkeypatch.setattr(pam, "verify", verify)
    handle = FakeHandle("anna", " 123456 ")
    args = argv(token_file(tmp_path, 0o600), account="{user}@example.org")
    assert pam.pam_sm_authenticate(handle, 0, args) == expected
    assert sent == [("anna@example.org", "123456")]
    if body.get("result") == "deactivated":
        assert handle.shown == ["2FA is deactivated by support until 2026-03-02T09:00:00Z"]


def test_a_token_file_others_may_read_is_refused_and_logged(
    tmp_path: Path, logged: list[str]
) -> None:
    handle = FakeHandle("anna", "123456")
    assert pam.pam_sm_authenticate(handle, 0, argv(token_file(tmp_path, 0o640))) == 7
    assert len(logged) == 1 and "may be read by others: chmod 600" in logged[0]
    assert "a-token-of-the-login-host" not in logged[0] and "123456" not in logged[0]


def test_an_unreachable_2fa_desk_is_refused_and_logged(tmp_path: Path, logged: list[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    handle = FakeHandle("anna", "123456")
    args = argv(token_file(tmp_path, 0o600), url=f"http://127.0.0.1:{port}", timeout="1")
    assert pam.pam_sm_authenticate(handle, 0, args) == 7
    assert len(logged) == 1 and "cannot be reached" in logged[0]


@pytest.mark.parametrize(
    "args",
    [
        ["/path/twofa_desk.py"],
        ["/path/twofa_desk.py", "url=http://127.0.0.1:9"],
        ["/path/twofa_desk.py", "url=ftp://x", "token_file=/t"],
        ["/path/twofa_desk.py", "url=http://x", "token_file=/t", "account=fixed"],
        ["/path/twofa_desk.py", "url=http://x", "token_file=/t", "debug"],
    ],
)
def test_a_broken_configuration_is_refused_and_logged(args: list[str], logged: list[str]) -> None:
    assert pam.pam_sm_authenticate(FakeHandle("anna", "123456"), 0, args) == 7
    assert len(logged) == 1
    assert "PAM configuration" in logged[0] or "must" in logged[0]


def test_setcred_succeeds_and_other_stacks_are_ignored() -> None:
    handle = FakeHandle("anna", "")
    assert pam.pam_sm_setcred(handle, 0, []) == handle.PAM_SUCCESS
    assert pam.pam_sm_acct_mgmt(handle, 0, []) == handle.PAM_IGNORE
