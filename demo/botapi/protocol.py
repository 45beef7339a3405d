"""Bot API wire protocol pieces shared by the in-memory state and both transports.

Kept separate so that the HTTP server and the in-process PTB request render errors byte for
byte the same way: a test that passes over one transport should pass over the other.
"""

from __future__ import annotations

import json
from typing import Any

#: Descriptions Telegram uses when nothing more specific applies.
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: Statuses that, on the real service, come from the nginx in front of the Bot API: their body
#: is an HTML page, not JSON (PTB then raises NetworkError mentioning a parse failure).
GATEWAY_STATUSES = frozenset({502, 503, 504})

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error answer. Raised inside method implementations, turned into a body."""

    def __init__(
        self, status: int, description: str | None = None, retry_after: int | None = None
    ) -> None:
        self.status = status
        self.description = description or DEFAULT_DESCRIPTIONS.get(status, "Unknown error")
        self.retry_after = retry_after
        super().__init__(f"{status} {self.description}")

    @classmethod
    def bad_request(cls, detail: str) -> ApiError:
        return cls(400, f"Bad Request: {detail}")

    @classmethod
    def too_many_requests(cls, retry_after: int) -> ApiError:
        retry_after = max(1, int(retry_after))
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def dump_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, as api.telegram.org sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


_NGINX_PHRASES = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def render_response(status: int, body: dict[str, Any]) -> tuple[bytes, str]:
    """Encode a (status, body) answer of `BotApiState.call` into (payload, content type)."""
    if status in GATEWAY_STATUSES:
        title = f"{status} {_NGINX_PHRASES[status]}"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return page.encode(), "text/html"
    return dump_json(body), "application/json"
