"""Who is calling: the ``Actor``, token extraction, and ``require_actor`` for routes.

The kernel does not know how tokens are made. It takes the token from the request and asks the
plugins (``commonly_actor_from_token``); the auth plugin answers for user JWTs, the registry for
agent tokens. socket.io connections go through the same lookup (see ``realtime.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Literal, TypeVar

from quart import current_app, g, request

from .errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

#: Attribute on a view function listing the error statuses it documents in OpenAPI.
ERRORS_ATTRIBUTE = "_commonly_error_statuses"


@dataclass(frozen=True)
class Actor:
    """A signed-in caller: a person (``kind="user"``) or an agent acting through a token.

    ``scopes`` empty means unrestricted; otherwise the actor may do only what they name.
    ``record`` is the object the resolving plugin loaded (e.g. the auth plugin's ``User``), so
    a route need not load it again. ``claims`` carries plugin-specific facts (an agent's
    instance id, the pods it may reach).
    """

    id: str
    kind: Literal["user", "agent"] = "user"
    role: Literal["user", "admin"] = "user"
    username: str = ""
    scopes: frozenset[str] = frozenset()
    is_bot: bool = False
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    record: Any = field(default=None, compare=False, hash=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def allows(self, scope: str, pod_id: object = None) -> bool:
        """Whether this actor's scopes allow ``scope`` (no scopes = everything).

        An agent installed in several pods may hold different scopes in each: its plugin puts
        them in ``claims["podScopes"]`` (pod id → scopes). Give ``pod_id`` where the action
        happens in a pod; without it, or for a pod not named there, ``scopes`` decide.
        """
        per_pod = self.claims.get("podScopes")
        if pod_id is not None and per_pod and str(pod_id) in per_pod:
            return scope in per_pod[str(pod_id)]
        return not self.scopes or scope in self.scopes


def token_from_headers(headers: Any) -> str | None:
    """The bearer token of a request: ``Authorization: Bearer``, ``x-auth-token`` (the original
    web app) or ``x-commonly-agent-token`` (agent runtimes)."""
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for header in ("x-commonly-agent-token", "x-auth-token"):
        value = headers.get(header, "").strip()
        if value:
            return value
    return None


async def resolve_actor(token: str | None) -> Actor | None:
    """The actor for ``token`` through the plugins, or None."""
    if not token:
        return None
    kernel = current_app.extensions["commonly"]
    return await kernel.hooks.actor_from_token(token, kernel.settings)


async def optional_actor() -> Actor | None:
    """The caller if the request carries a valid token (cached on ``g`` for the request)."""
    if "actor" not in g:
        g.actor = await resolve_actor(token_from_headers(request.headers))
    return g.actor


def current_actor() -> Actor:
    """The actor ``require_actor`` admitted for this request."""
    actor = g.get("actor")
    if actor is None:
        raise Unauthorized()
    return actor


def document_errors(*statuses: int) -> Callable[[F], F]:
    """Name the error statuses a route may answer, for its OpenAPI entry (envelope schema)."""

    def decorator(func: F) -> F:
        known = set(getattr(func, ERRORS_ATTRIBUTE, ()))
        setattr(func, ERRORS_ATTRIBUTE, tuple(sorted(known | set(statuses))))
        return func

    return decorator


def require_actor(
    *,
    kind: Literal["user", "agent"] | None = None,
    role: Literal["admin"] | None = None,
    scopes: Iterable[str] = (),
) -> Callable[[F], F]:
    """Admit only a signed-in caller (401 otherwise), optionally of one kind, the global admin
    role, or holding every scope in ``scopes`` (403 otherwise). Put it above
    ``validate_request`` so a stranger hears 401 before any validation detail."""
    needed = tuple(scopes)

    def decorator(func: F) -> F:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = await optional_actor()
            if actor is None:
                raise Unauthorized("A valid token is required.")
            if kind is not None and actor.kind != kind:
                raise Forbidden(f"Only {kind}s may do this.")
            if role == "admin" and not actor.is_admin:
                raise Forbidden("Only administrators may do this.", code="admin_required")
            missing = [scope for scope in needed if not actor.allows(scope)]
            if missing:
                raise Forbidden(f"The token lacks the scope {', '.join(missing)}.", code="missing_scope")
            return await func(*args, **kwargs)

        return document_errors(401, 403)(wrapper)  # type: ignore[return-value]

    return decorator
