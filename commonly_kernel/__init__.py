"""Commonly's kernel: a small Quart app that loads pluggy plugins.

Plugins import what they need from here and nothing deeper::

    from commonly_kernel import hookimpl, require_actor, current_actor, NotFound
"""

from .app import CommonlyApp, Kernel, create_app
from .auth import Actor, current_actor, document_errors, optional_actor, require_actor
from .db import fetch_all, lock_until_commit, transaction
from .errors import (
    BadRequest,
    CommonlyError,
    Conflict,
    Forbidden,
    HTTPError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RuleRefused,
    StartupError,
    Unauthorized,
    ValidationFailed,
)
from .plugins import hookimpl
from .registration import ContextSearch, ContextSection, Job, Models, SocketHandler
from .schemas import MessageOut, QueryArgs, RequestBody, WireModel
from .settings import Settings


def kernel() -> Kernel:
    """The current app's ``Kernel`` (inside a request or socket handler)."""
    from quart import current_app

    return current_app.extensions["commonly"]


__all__ = [
    "Actor", "BadRequest", "CommonlyApp", "CommonlyError", "Conflict", "ContextSearch", "ContextSection", "Forbidden",
    "HTTPError", "Job", "Kernel", "MessageOut", "Models", "NotFound", "PayloadTooLarge", "QueryArgs",
    "RateLimited", "RequestBody", "RuleRefused", "Settings", "SocketHandler", "StartupError",
    "Unauthorized", "ValidationFailed", "WireModel", "create_app", "current_actor", "document_errors", "fetch_all",
    "hookimpl", "kernel", "lock_until_commit", "optional_actor", "require_actor", "transaction",
]
