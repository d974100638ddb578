"""Installation scopes in the original's vocabulary, their aliases, and what installing implies."""

from __future__ import annotations

from collections.abc import Iterable

from commonly_kernel import ValidationFailed

KNOWN = frozenset({
    "context:read", "summaries:read", "messages:read", "messages:write", "memory:read", "memory:write",
    "posts:read", "posts:write", "integration:read", "integration:write",
})
#: Every runtime token may read its pods' context and messages (and always fetch/ack its events).
IMPLIED = frozenset({"context:read", "messages:read"})
DEFAULT = ("context:read", "messages:read", "messages:write")
#: Accepted and ignored: events are always allowed.
IGNORED = frozenset({"agent:events:read", "agent:events:ack", "events:read", "events:ack"})
BOT_TOKEN_SCOPES = ("agent:events:read", "agent:events:ack", "agent:context:read", "agent:messages:read",
                    "agent:messages:write")


def short(scope: str) -> str:
    """``agent:messages:write`` → ``messages:write``; ``integrations:read`` → ``integration:read``."""
    scope = scope.strip().lower().removeprefix("agent:")
    return scope.replace("integrations:", "integration:", 1)


def normalise(scopes: Iterable[str], *, field: str = "scopes") -> list[str]:
    """Installation scopes in the short form, sorted; an unknown one is a 400 with details."""
    kept: set[str] = set()
    unknown = []
    for scope in scopes:
        if scope.strip().lower() in IGNORED:
            continue
        name = short(scope)
        (kept.add(name) if name in KNOWN else unknown.append(scope))
    if unknown:
        raise ValidationFailed(
            f"Unknown scopes: {', '.join(unknown)}.",
            details=[{"field": field, "message": f"unknown scope {scope!r}", "type": "unknown_scope"}
                     for scope in unknown],
        )
    return sorted(kept)


def granted(installation_scopes: Iterable[str]) -> frozenset[str]:
    """What a runtime token may do in a pod with this installation."""
    return frozenset(installation_scopes) | IMPLIED


def bot_token_scopes(scopes: Iterable[str]) -> list[str]:
    """Bot user token scopes keep the ``agent:*`` names; unknown ones are a 400."""
    names = sorted({scope.strip().lower() for scope in scopes})
    unknown = [scope for scope in names if scope not in BOT_TOKEN_SCOPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown bot token scopes: {', '.join(unknown)}.",
            details=[{"field": "scopes", "message": f"unknown scope {scope!r}", "type": "unknown_scope"}
                     for scope in unknown],
        )
    return names
