"""Where a webhook may be sent: the checks of an endpoint's URL (``url_problem``), of the
addresses it names (``address_refused``, ``refused_addresses``: nothing off the public
internet unless the operator allows it, IPv6 forms that carry an IPv4 address included),
and the URL as the audit log and the ops chat show it (``shown_url``). The endpoints and
the deliveries: ``core.webhooks``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from urllib.parse import urlsplit

_MAX_URL = 2000


def address_refused(address: str) -> bool:
    """An address a webhook may not reach unless allowed: loopback, link-local, private,
    shared, reserved, multicast or unspecified (anything not on the public internet)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:  # a translator or tunnel would reach that IPv4 address
            return address_refused(str(embedded))
    return not ip.is_global or ip.is_multicast


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, RFC
# 8215) and the deprecated IPv4-compatible addresses.
_IPV4_CARRIERS = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96")
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in network for network in _IPV4_CARRIERS) and int(ip) & 0xFFFFFFFF:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def shown_url(url: str) -> str:
    """A receiver's URL as the audit log and the ops chat show it: scheme, host and port
    only (a path or query may carry the receiver's own secret, as chat webhooks do)."""
    parts = urllib.parse.urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{rest}"


def ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def url_problem(url: str) -> str:
    """Why ``url`` cannot be an endpoint, or ""."""
    if len(url) > _MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "the URL does not parse"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return "the URL does not parse"
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs can receive webhooks"
    if "@" in parts.netloc:
        return "the URL has credentials in it: the signature authenticates the sender"
    if not parts.hostname:
        return "the URL does not parse (no host)"
    return ""


async def refused_addresses(host: str) -> list[str]:
    """The addresses ``host`` names that a webhook may not reach unless allowed (a name
    that does not resolve now names none: delivery checks again)."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal] if address_refused(literal) else []
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos if address_refused(str(info[4][0]))})
