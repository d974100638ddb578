"""The kernel's exceptions and the one error envelope every response uses.

::

    CommonlyError
    ├── StartupError            the app cannot start (bad plugin set, missing setting)
    └── HTTPError               a client-facing error: status + snake_case code + message
        ├── BadRequest          400 bad_request
        │   ├── ValidationFailed    400 validation_error (with ``details``)
        │   └── RuleRefused         400 for a refused rule about your own account / a protected object
        ├── Unauthorized        401 unauthorized
        ├── Forbidden           403 forbidden
        ├── NotFound            404 not_found
        ├── Conflict            409 conflict
        ├── PayloadTooLarge     413 payload_too_large
        └── RateLimited         429 rate_limited

Plugins raise these (or subclasses) from routes, services and socket handlers; the kernel turns
each into ``{"error": code, "message": text, "requestId": ...}`` with ``details`` when given.
Every class takes ``code=`` so a plugin can name its own codes (``email_taken``) without a class.
"""

from __future__ import annotations

from typing import Any


class CommonlyError(Exception):
    """Base of every exception the kernel defines."""


class StartupError(CommonlyError):
    """The app cannot start: a missing plugin dependency, a duplicate name, a missing setting."""


class HTTPError(CommonlyError):
    """An error meant for the client; rendered as the error envelope with ``status``."""

    status: int = 500
    code: str = "internal_error"
    default_message: str = "Something went wrong."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(HTTPError):
    status, code, default_message = 400, "bad_request", "The request is malformed."


class ValidationFailed(BadRequest):
    code, default_message = "validation_error", "The request did not pass validation."


class RuleRefused(BadRequest):
    code, default_message = "not_allowed", "That change is not allowed."


class Unauthorized(HTTPError):
    status, code, default_message = 401, "unauthorized", "Sign in to do this."


class Forbidden(HTTPError):
    status, code, default_message = 403, "forbidden", "You are not allowed to do this."


class NotFound(HTTPError):
    status, code, default_message = 404, "not_found", "Not found."


class Conflict(HTTPError):
    status, code, default_message = 409, "conflict", "That conflicts with existing data."


class PayloadTooLarge(HTTPError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large."


class RateLimited(HTTPError):
    status, code, default_message = 429, "rate_limited", "Too many requests; slow down."


#: The snake_case code for each HTTP status the kernel may render without an HTTPError.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_envelope(
    code: str, message: str, request_id: str | None, details: Any = None
) -> dict[str, Any]:
    """The body of every error response (and of socket.io ``error`` events)."""
    body: dict[str, Any] = {"error": code, "message": message, "requestId": request_id}
    if details is not None:
        body["details"] = details
    return body
