"""What every HTTP request goes through: request ids, the access log, gzip, CORS, rate-limit
keys, the one error envelope, and the OpenAPI document that describes all of it."""

from __future__ import annotations

import gzip
import logging
import re
import time
import uuid
from typing import Any

from pydantic import ValidationError
from quart import Quart, Request, Response, g, jsonify, request
from quart_cors import cors
from quart_rate_limiter import QUART_RATE_LIMITER_LIMITS_ATTRIBUTE, RateLimiter
from quart_rate_limiter.redis_store import RedisStore
from quart_schema import QuartSchema, RequestSchemaValidationError
from quart_schema.openapi import QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, OpenAPIProvider
from quart_schema.validation import QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, QUART_SCHEMA_REQUEST_ATTRIBUTE
from werkzeug.exceptions import HTTPException

from .auth import ERRORS_ATTRIBUTE
from .errors import STATUS_CODES, HTTPError, error_envelope
from .errors import BadRequest as BadRequestError
from .settings import Settings

log = logging.getLogger("commonly")
access_log = logging.getLogger("commonly.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    """This request's id: the client's ``X-Request-Id`` when sane, else a new one."""
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
    return g.request_id


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_envelope(code, message, request_id(), details))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_details(error: Exception) -> list[dict[str, Any]]:
    """Which field failed and why — never the submitted value (it may be a password)."""
    cause = getattr(error, "validation_error", error)
    if isinstance(cause, ValidationError):
        return [
            {"field": ".".join(str(part) for part in item["loc"]) or "body",
             "message": item["msg"], "type": item["type"]}
            for item in cause.errors(include_url=False, include_context=False, include_input=False)
        ]
    return [{"field": "body", "message": str(cause), "type": "invalid"}]


class CommonlyRequest(Request):
    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if await self.get_data(cache=True) == b"":
            # An empty body is an empty object, whatever its Content-Type says: the original
            # clients send `Content-Type: application/json` on bodiless requests (an ack, a join).
            return {}
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            # The stdlib decoder recurses per nesting level: [[[[...]]]] 100k deep is bad input.
            raise BadRequestError("The request body is nested too deeply.") from None


def install_error_handlers(app: Quart) -> None:
    app.request_class = CommonlyRequest

    @app.errorhandler(HTTPError)
    async def commonly_error(error: HTTPError) -> Response:
        return error_response(error.status, error.code, error.message, error.details, error.headers)

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(error: RequestSchemaValidationError) -> Response:
        return error_response(400, "validation_error", "The request did not pass validation.",
                              validation_details(error))

    @app.errorhandler(UnicodeDecodeError)
    async def undecodable_body(error: UnicodeDecodeError) -> Response:
        return error_response(400, "bad_request", "The request body is not valid UTF-8.")

    @app.errorhandler(HTTPException)
    async def http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        headers = dict(error.get_headers())
        headers.pop("Content-Type", None)
        message = _SHORT_MESSAGES.get(status) or error.description or STATUS_CODES.get(status, "error")
        if status == 400 and _is_json_request():
            message = "The request body is not valid JSON."
        return error_response(status, STATUS_CODES.get(status, "error"), message, headers=headers)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request_id())
        return error_response(500, "internal_error", "Something went wrong; the error was logged.")


_SHORT_MESSAGES = {
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    429: "Too many requests; slow down.",
}


def _is_json_request() -> bool:
    return request.mimetype == "application/json"


def install_middleware(app: Quart, settings: Settings) -> None:
    gzip_min = settings.gzip_min_bytes
    cors(app, allow_origin=list(settings.frontend_urls), allow_credentials=True,
         allow_headers=["Authorization", "Content-Type", "X-Request-Id", "x-auth-token",
                        "x-commonly-agent-token", "Idempotency-Key"],
         expose_headers=["X-Request-Id", "X-Next-Cursor", "Retry-After"])
    # quart-cors re-parses its settings on every response (a tenth of a simple request's time);
    # requests without an Origin (agents, CLIs, same-origin) need none of it. Everything else
    # happens in one after-request function: each one Quart calls costs time on every request.
    apply_cors = app.after_request_funcs[None].pop()

    @app.before_request
    async def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    async def finish(response: Response) -> Response:
        if "Origin" in request.headers:
            response = await apply_cors(response)
        else:
            response.vary.add("Origin")
        response.headers["X-Request-Id"] = request_id()
        if gzip_min > 0:
            await _maybe_gzip(response, gzip_min)
        if access_log.isEnabledFor(logging.INFO):
            elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            access_log.info("%s %s %s %.1fms %s", request.method, _loggable_path(), response.status_code,
                            elapsed, request_id())
        return response


def _loggable_path() -> str:
    # The route's pattern, not the path: paths and query strings may carry secrets
    # (``/api/auth/reset/<token>``, ``?token=``). Unmatched paths are cut short.
    rule = request.url_rule
    return rule.rule if rule is not None else request.path[:100]


async def _maybe_gzip(response: Response, min_bytes: int) -> None:
    # No maintained Quart compression extension exists (quart-compress last shipped in 2020 for
    # Quart 0.12), and this is the whole of what one would do for JSON bodies.
    if (response.mimetype != "application/json" or response.status_code < 200
            or "gzip" not in request.headers.get("Accept-Encoding", "")
            or "Content-Encoding" in response.headers):
        return
    body = await response.get_data()
    if len(body) < min_bytes:
        return
    response.set_data(gzip.compress(body, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")


def install_rate_limiter(app: Quart, settings: Settings) -> RateLimiter | None:
    async def client_key() -> str:
        # Never X-Forwarded-For itself: the client writes its left end. Behind a proxy you run,
        # uvicorn's proxy-headers support (COMMONLY_TRUST_PROXY) has already put the address the
        # proxy saw into remote_addr.
        return request.remote_addr or "unknown"

    if not settings.rate_limits_enabled:
        return None  # a disabled RateLimiter still runs its hooks on every request
    store = RedisStore(settings.redis_url) if settings.redis_url else None
    return RateLimiter(app, key_function=client_key, store=store)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message", "requestId"],
    "properties": {
        "error": {"type": "string", "description": "snake_case error code"},
        "message": {"type": "string"},
        "requestId": {"type": ["string", "null"]},
        "details": {"description": "validation failures: [{field, message, type}]"},
    },
}


class CommonlyOpenAPI(OpenAPIProvider):
    """Operation ids prefixed with the blueprint (``auth_login``) so two plugins' ``list_items``
    never collide, and every documented error status answered with the envelope's schema."""

    def build_paths(self, rule: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        prefix = rule.endpoint.split(".", 1)[0] if "." in rule.endpoint else "kernel"
        statuses = _error_statuses(func)
        components["Error"] = ERROR_SCHEMA
        # A view served on several paths (``/health`` and ``/api/health``) needs one id per path.
        aliases = list(self._app.url_map.iter_rules(rule.endpoint))
        alias = aliases.index(rule) if rule in aliases else 0
        alias_suffix = "" if alias == 0 else "_alias" if alias == 1 else f"_alias{alias}"
        for operations in paths.values():
            for method, operation in operations.items():
                if not hasattr(func, QUART_SCHEMA_OPERATION_ID_ATTRIBUTE):
                    suffix = f"_{method}" if len(operations) > 1 else ""
                    operation["operationId"] = f"{prefix}_{func.__name__}{alias_suffix}{suffix}"
                responses = dict(operation.get("responses", {}))
                for status in sorted(statuses):
                    responses.setdefault(status, {
                        "description": STATUS_CODES.get(status, "error"),
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    })
                operation["responses"] = responses
        return paths, components


def _error_statuses(func: Any) -> set[int]:
    statuses = set(getattr(func, ERRORS_ATTRIBUTE, ()))
    if getattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE, None) is not None:
        statuses |= {400, 413}
    if getattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, None) is not None:
        statuses.add(400)
    if getattr(func, QUART_RATE_LIMITER_LIMITS_ATTRIBUTE, None):
        statuses.add(429)
    return statuses


def install_schema(app: Quart, version: str) -> QuartSchema:
    return QuartSchema(
        app,
        info={"title": "Commonly API", "version": version},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
        pydantic_dump_options={"by_alias": True, "mode": "json"},
        openapi_provider_class=CommonlyOpenAPI,
        scalar_ui_path=None,
    )
