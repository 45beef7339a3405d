"""Who may call what: bearer tokens (RFC 6750), each route's scope, and the rate limits.

Every route declares, next to itself, the scope a client needs for it (``@requires``)
or that it needs none (``@public``); ``check_scopes`` refuses to build an API with a
route that declares neither, so a new endpoint cannot be left open by forgetting. The
clients and the limits themselves are the core's (core/clients.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.errors import ApiError, Handler
from core.clients import ApiClient, ClientRegistry, RateLimits, Scope

H = TypeVar("H", bound=Handler)

PUBLIC: Final = "public"  # a route anyone may call (GET /healthz)
_DECLARED = "__api_scope__"
CLIENT: web.RequestKey[ApiClient] = web.RequestKey("client", ApiClient)


class UndeclaredScope(TypeError):
    """A route says neither which scope it needs nor that it is public."""


def requires(scope: Scope) -> Callable[[H], H]:
    """The scope a client needs for this route (decorates the handler)."""

    def declare(handler: H) -> H:
        setattr(handler, _DECLARED, scope)
        return handler

    return declare


def public(handler: H) -> H:
    """This route needs no token."""
    setattr(handler, _DECLARED, PUBLIC)
    return handler


def declared_scope(handler: object) -> Scope | str | None:
    """What a handler declared: a Scope, PUBLIC, or None (nothing)."""
    declared: Scope | str | None = getattr(handler, _DECLARED, None)
    return declared


def check_scopes(routes: Iterable[web.AbstractRoute]) -> None:
    """Refuse routes that declare no scope (at start, and in tests/test_api_clients.py)."""
    for route in routes:
        if declared_scope(route.handler) is None:
            where = route.resource.canonical if route.resource is not None else "?"
            raise UndeclaredScope(
                f"{route.method} {where} declares no scope: decorate its handler with "
                "@requires(Scope....) or @public (api/auth.py)"
            )


def client_auth(clients: ClientRegistry, limits: RateLimits) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        # A path or method with no route still needs a token (then 404 or 405).
        needed = declared_scope(match.handler) if match.http_exception is None else None
        if needed == PUBLIC:
            return await handler(request)
        address = request.remote or ""
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        has_token = scheme.lower() == "bearer" and bool(presented.strip())
        client = await clients.authenticate(presented.strip()) if has_token else None
        if client is None:
            # Only what fails to authenticate is held back by its address: a valid token is
            # never refused for another sender's failures (behind a proxy every request
            # comes from one address).
            wait = limits.address_refused(address)
            if wait is not None:
                raise _rate_limited(wait, "too many failed authentications from this address")
            limits.note_failure(address)
            if not has_token:
                raise _unauthorized("missing_token", "send Authorization: Bearer <token>", None)
            raise _unauthorized(
                "invalid_token",
                "the bearer token is not valid (unknown or revoked)",
                "invalid_token",
            )
        wait = limits.take(client)
        if wait is not None:
            raise _rate_limited(wait, f"client {client.name} is over its rate limit")
        if isinstance(needed, Scope) and not client.allows(needed):
            raise ApiError(
                403, "forbidden", f"client {client.name} does not have the scope {needed.value!r}"
            )
        request[CLIENT] = client
        return await handler(request)

    return middleware


def _unauthorized(error: str, message: str, rfc6750_error: str | None) -> ApiError:
    challenge = 'Bearer realm="2fa-desk"'
    if rfc6750_error:
        challenge += f', error="{rfc6750_error}"'
    return ApiError(401, error, message, headers={"WWW-Authenticate": challenge})


def _rate_limited(seconds: int, message: str) -> ApiError:
    return ApiError(429, "rate_limited", message, headers={"Retry-After": str(seconds)})
