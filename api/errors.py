"""Errors as JSON with a stable ``error`` field, whatever went wrong."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from core.alerts import AlertService

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ALERTS: web.AppKey[AlertService] = web.AppKey("alerts", AlertService)


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"error": self.error, "message": self.message}
        return web.json_response(body, status=self.status, headers=self.headers)


def bad_request(error: str, message: str) -> ApiError:
    return ApiError(400, error, message)


MALFORMED_REQUEST = {"error": "malformed_request", "message": "the request is not valid HTTP/1.1"}

# aiohttp's own refusals, in the API's words.
_HTTP_ERRORS = {
    404: ("not_found", "no such endpoint"),
    405: ("method_not_allowed", "method not allowed for this endpoint"),
    413: ("payload_too_large", "request body too large"),
}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except (HttpProcessingError, web.RequestPayloadError, ConnectionResetError) as exc:
        # The body could not be read as sent (a bad Content-Encoding, a broken chunk, a
        # client that hung up half-way): the client's fault, not an incident. One line,
        # never the exception's message (it may quote the request), the path still
        # percent-encoded (a decoded one may hold a newline).
        logger.info(
            "malformed HTTP body on %s %s refused (%s)",
            request.method,
            request.rel_url.raw_path,
            type(exc).__name__,
        )
        response = web.json_response(MALFORMED_REQUEST, status=400)
        response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error, message = _HTTP_ERRORS.get(exc.status, ("http_error", exc.reason))
        return web.json_response({"error": error, "message": message}, status=exc.status)
    except Exception as exc:
        # Never the request body in the log or the alert: it holds codes.
        logger.exception("API error on %s %s", request.method, request.rel_url.raw_path)
        alerts = request.app.get(ALERTS)
        if alerts is not None:
            try:
                await alerts.raise_event(
                    "api_error", "critical", error=type(exc).__name__, where=request.path
                )
            except Exception:
                logger.warning("the API error alert could not be recorded")
        return web.json_response(
            {"error": "internal_error", "message": "internal error"}, status=500
        )
