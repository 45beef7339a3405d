"""FreeRADIUS with the shipped twofa_desk files, and RADIUS clients to ask it.

``FreeRadius`` runs ``freeradius -f`` on a throwaway copy of Debian's
/etc/freeradius/3.0: the default sites and the eap module removed (without the default
sites, eap has no "Auth-Type EAP" section to find and the start fails), the shipped
files linked in from deploy/freeradius, everything readable by the ``freerad`` user that
radiusd drops to. ``radclient`` plays the VPN; ``send_raw`` builds an Access-Request by
hand for what radclient cannot send (bytes that are not text, no User-Password at all).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import shutil
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from tests.e2e import ROOT

STOCK_RADDB = Path("/etc/freeradius/3.0")
SHIPPED = ROOT / "deploy" / "freeradius"
RADIUSD = "freeradius"
RADCLIENT = "radclient"
SECRET = "e2e-radius-secret"

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
USER_NAME, USER_PASSWORD, REPLY_MESSAGE, MESSAGE_AUTHENTICATOR = 1, 2, 18, 80


def missing_programs() -> list[str]:
    """What the RADIUS tests need and this machine lacks (CI installs them: .ci/run)."""
    missing = [name for name in (RADIUSD, RADCLIENT) if shutil.which(name) is None]
    if not (STOCK_RADDB / "mods-available" / "rest").exists():
        missing.append("freeradius-rest (/etc/freeradius/3.0/mods-available/rest)")
    return missing


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_raddb(target: Path) -> Path:
    """A copy of the stock configuration with the twofa_desk files linked in."""
    shutil.copytree(STOCK_RADDB, target, symlinks=True)
    for site in (target / "sites-enabled").iterdir():
        site.unlink()
    (target / "mods-enabled" / "eap").unlink()
    (target / "mods-enabled" / "twofa_desk").symlink_to(SHIPPED / "mods-available" / "twofa_desk")
    (target / "sites-enabled" / "twofa_desk").symlink_to(SHIPPED / "sites-available" / "twofa_desk")
    # The one change to the stock settings: no second's pause before each Access-Reject
    # (security.reject_delay), which would only make the tests slow.
    conf = target / "radiusd.conf"
    conf.write_text(re.sub(r"(?m)^(\s*reject_delay\s*=\s*)\S+", r"\g<1>0", conf.read_text()))
    _readable_by_freerad(target)
    return target


def _readable_by_freerad(raddb: Path) -> None:
    """radiusd reads its configuration as ``freerad`` once it dropped root: the copy is
    given to it, and every folder above it (and above the linked files) must let it pass."""
    if os.geteuid() != 0:
        return
    shutil.chown(raddb, "freerad", "freerad")
    for path in raddb.rglob("*"):
        if not path.is_symlink():
            shutil.chown(path, "freerad", "freerad")
    for start in (raddb, SHIPPED):
        for folder in (start, *start.parents):
            mode = folder.stat().st_mode
            if mode & 0o001 == 0:
                folder.chmod(mode | 0o001)
    for shipped in SHIPPED.rglob("*"):
        mode = shipped.stat().st_mode
        shipped.chmod(mode | (0o005 if shipped.is_dir() else 0o004))


class FreeRadius:
    """``freeradius -f -d <copy>`` with the twofa_desk variables, log on stdout."""

    def __init__(self, raddb: Path, api_url: str, token: str, log_path: Path) -> None:
        self.raddb = raddb
        self.port = free_udp_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "TWOFA_DESK_URL": api_url,
            "TWOFA_DESK_TOKEN": token,
            "TWOFA_DESK_RADIUS_PORT": str(self.port),
            "TWOFA_DESK_RADIUS_SECRET": SECRET,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                RADIUSD,
                "-f",
                "-l",
                "stdout",
                "-d",
                str(self.raddb),
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "Ready to process requests" not in self.log():
            if self.proc.returncode is not None or loop.time() > deadline:
                raise RuntimeError(f"freeradius did not start:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Reply:
    """``accept``: Access-Accept (True), Access-Reject (False), or no answer (None)."""

    accept: bool | None
    message: str | None


async def radclient(port: int, user: str, password: str, timeout: float = 10.0) -> Reply:  # noqa: ASYNC109
    """One Access-Request through ``radclient``, as a VPN would send it (one try, no
    retransmission: a lost answer is ``Reply(None, None)``)."""
    attributes = f'User-Name = "{_quoted(user)}"\nUser-Password = "{_quoted(password)}"\n'
    proc = await asyncio.create_subprocess_exec(
        RADCLIENT,
        "-x",
        "-r",
        "1",
        "-t",
        str(timeout),
        f"127.0.0.1:{port}",
        "auth",
        SECRET,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate(attributes.encode())
    return parse_radclient(output.decode(errors="replace"))


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def parse_radclient(output: str) -> Reply:
    received = re.search(r"Received Access-(Accept|Reject)", output)
    if received is None:
        return Reply(None, None)
    message = re.search(r'Reply-Message = "(.*)"', output[received.end() :])
    return Reply(received.group(1) == "Accept", message.group(1) if message else None)


async def send_raw(
    port: int,
    user: bytes | None,
    password: bytes | None,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> Reply:
    """An Access-Request built here (RFC 2865), with any bytes in User-Name and
    User-Password (hidden as the RFC says), and a Message-Authenticator (RFC 3579)."""
    identifier = secrets.randbelow(256)
    authenticator = secrets.token_bytes(16)
    attributes = b""
    if user is not None:
        attributes += _attribute(USER_NAME, user)
    if password is not None:
        attributes += _attribute(USER_PASSWORD, _hide(password, authenticator))
    attributes += _attribute(MESSAGE_AUTHENTICATOR, bytes(16))
    length = 20 + len(attributes)
    packet = struct.pack("!BBH", ACCESS_REQUEST, identifier, length) + authenticator + attributes
    signature = hmac.new(SECRET.encode(), packet, hashlib.md5).digest()
    packet = packet[:-16] + signature

    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not answer.done():
                answer.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(
        Client, remote_addr=("127.0.0.1", port), family=socket.AF_INET
    )
    try:
        transport.sendto(packet)
        data = await asyncio.wait_for(answer, timeout)
    except TimeoutError:
        return Reply(None, None)
    finally:
        transport.close()
    return _parse_reply(data)


def _attribute(kind: int, value: bytes) -> bytes:
    assert len(value) <= 253, "a RADIUS attribute holds at most 253 bytes"
    return bytes([kind, 2 + len(value)]) + value


def _hide(password: bytes, authenticator: bytes) -> bytes:
    padded = password + bytes(-len(password) % 16 or (16 if not password else 0))
    hidden, previous = b"", authenticator
    for start in range(0, len(padded), 16):
        pad = hashlib.md5(SECRET.encode() + previous).digest()  # noqa: S324 (RFC 2865)
        block = bytes(a ^ b for a, b in zip(padded[start : start + 16], pad, strict=True))
        hidden += block
        previous = block
    return hidden


def _parse_reply(data: bytes) -> Reply:
    code = data[0]
    message = None
    offset = 20
    while offset + 2 <= len(data):
        kind, length = data[offset], data[offset + 1]
        if length < 2:
            break
        if kind == REPLY_MESSAGE:
            message = data[offset + 2 : offset + length].decode(errors="replace")
        offset += length
    accept = {ACCESS_ACCEPT: True, ACCESS_REJECT: False}.get(code)
    return Reply(accept, message)
