"""Bearer token authentication (RFC 6750), compared in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.errors import ApiError, Handler

PUBLIC_PATHS = frozenset({"/healthz"})


def bearer_auth(token: str) -> Middleware:
    expected = token.encode("utf-8")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise _unauthorized("missing_token", "send Authorization: Bearer <API_TOKEN>", None)
        if not hmac.compare_digest(_as_bytes(presented.strip()), expected):
            raise _unauthorized("invalid_token", "the bearer token is not valid", "invalid_token")
        return await handler(request)

    return middleware


def _as_bytes(presented: str) -> bytes:
    """The header's bytes as sent. aiohttp decodes headers as UTF-8 with
    ``surrogateescape``: bytes that are not UTF-8 come back as they were, and so
    compare unequal instead of raising."""
    try:
        return presented.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no byte could have produced
        return b""


def _unauthorized(error: str, message: str, rfc6750_error: str | None) -> ApiError:
    challenge = 'Bearer realm="2fa-desk"'
    if rfc6750_error:
        challenge += f', error="{rfc6750_error}"'
    return ApiError(401, error, message, headers={"WWW-Authenticate": challenge})
