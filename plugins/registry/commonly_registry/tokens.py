"""Agent tokens: runtime tokens (``cm_agent_…``) and bot user tokens (``cm_…``), stored as SHA-256
digests, and the actor they stand for.

A runtime token acts as its identity's bot user, within each installation's scopes
(``Actor.claims["podScopes"]``), and reaches only the pods of its installations and its DM pods.
Actors are kept per process for a few seconds; any change to tokens or installations evicts them
in every process (``TOKENS_CHANGED``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from commonly_auth import get_user
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, Kernel, NotFound, Settings

from . import scopes as scope_rules
from .models import AgentIdentity, BotToken, DirectPod, Installation, RuntimeToken

RUNTIME_PREFIX = "cm_agent_"
BOT_PREFIX = "cm_"
TOKENS_CHANGED = "registry.tokens-changed"
CACHE_SECONDS = 5.0
TOUCH_EVERY = timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ActorCache:
    """Token digest → (actor, expiry): agents call all day, and the lookup costs four queries."""

    def __init__(self) -> None:
        self._actors: dict[str, tuple[Actor, float]] = {}

    def get(self, key: str) -> Actor | None:
        hit = self._actors.get(key)
        if hit is None or hit[1] < time.monotonic():
            self._actors.pop(key, None)
            return None
        return hit[0]

    def put(self, key: str, actor: Actor) -> None:
        if len(self._actors) > 10_000:
            self._actors.clear()
        self._actors[key] = (actor, time.monotonic() + CACHE_SECONDS)

    def clear(self, _note: Any = None) -> None:
        self._actors.clear()


_caches: WeakKeyDictionary[Settings, ActorCache] = WeakKeyDictionary()


def cache_for(settings: Settings) -> ActorCache:
    cache = _caches.get(settings)
    if cache is None:
        cache = _caches[settings] = ActorCache()
    return cache


async def changed(kernel: Kernel) -> None:
    """Call after any change to tokens, installations or DM pods."""
    await kernel.broadcast.publish(TOKENS_CHANGED, "")


# -- lookup ------------------------------------------------------------------------------------


async def actor_for_token(token: str, cache: ActorCache) -> Actor | None:
    if not token.startswith(BOT_PREFIX):
        return None
    key = digest(token)
    actor = cache.get(key)
    if actor is None:
        actor = await (_runtime_actor(key) if token.startswith(RUNTIME_PREFIX) else _bot_actor(key))
        if actor is not None:
            cache.put(key, actor)
    return actor


async def _runtime_actor(key: str) -> Actor | None:
    token = await RuntimeToken.get_or_none(token_hash=key).select_related("identity")
    if token is None:
        return None
    await _touch(RuntimeToken, token.id, token.last_used_at)
    return await identity_actor(token.identity, {"tokenKind": "runtime", "tokenId": str(token.id)})


async def _bot_actor(key: str) -> Actor | None:
    token = await BotToken.get_or_none(token_hash=key).select_related("identity")
    if token is None:
        return None
    await _touch(BotToken, token.id, token.last_used_at)
    actor = await identity_actor(token.identity, {"tokenKind": "bot", "botScopes": list(token.scopes)})
    if actor is None or not token.scopes:
        return actor
    # The bot token's own scopes bound what its installations allow.
    allowed = {scope_rules.short(scope) for scope in token.scopes} | set(token.scopes)
    per_pod = {pod: frozenset(scopes & allowed) for pod, scopes in actor.claims["podScopes"].items()}
    return Actor(id=actor.id, kind="agent", username=actor.username, is_bot=True,
                 scopes=frozenset(actor.scopes & allowed) | frozenset(token.scopes),
                 claims={**actor.claims, "podScopes": per_pod}, record=actor.record)


async def identity_actor(identity: AgentIdentity, claims: dict[str, Any]) -> Actor | None:
    """The bot user of ``identity`` as an agent actor, with its scopes per pod."""
    user = await get_user(identity.user_id)
    if user is None:
        return None
    installs = await Installation.filter(identity_id=identity.id, status__in=("active", "paused")).values(
        "pod_id", "scopes")
    per_pod = {str(row["pod_id"]): scope_rules.granted(row["scopes"]) for row in installs}
    for pod_id in await DirectPod.filter(identity_id=identity.id).values_list("pod_id", flat=True):
        per_pod.setdefault(str(pod_id), scope_rules.granted(scope_rules.DEFAULT))
    union = frozenset().union(*per_pod.values()) if per_pod else scope_rules.IMPLIED
    return Actor(
        id=str(user.id), kind="agent", username=user.username, is_bot=True, scopes=union | scope_rules.IMPLIED,
        claims={"agentName": identity.agent_name, "instanceId": identity.instance_id,
                "identityId": identity.id, "podScopes": per_pod, **claims},
        record=user,
    )


async def _touch(model: type[RuntimeToken] | type[BotToken], token_id: int, last_used: datetime | None) -> None:
    now = datetime.now(UTC)
    if last_used is None or now - last_used > TOUCH_EVERY:
        await model.filter(id=token_id).update(last_used_at=now)


# -- runtime tokens ----------------------------------------------------------------------------


async def issue_runtime_token(kernel: Kernel, identity_id: int, label: str) -> tuple[RuntimeToken, str]:
    token = RUNTIME_PREFIX + secrets.token_hex(32)
    record = await RuntimeToken.create(identity_id=identity_id, token_hash=digest(token), label=label)
    await changed(kernel)
    return record, token


async def runtime_tokens(identity_id: int) -> list[RuntimeToken]:
    return await RuntimeToken.filter(identity_id=identity_id).order_by("id")


async def revoke_runtime_token(kernel: Kernel, identity_id: int | None, token_id: str) -> None:
    """Revoke one token (of ``identity_id`` when given: an admin may name any)."""
    query = RuntimeToken.filter(id=int(token_id)) if token_id.isdigit() and len(token_id) < 19 else None
    if query is not None and identity_id is not None:
        query = query.filter(identity_id=identity_id)
    if query is None or not await query.delete():
        raise NotFound("No such runtime token.", code="token_not_found")
    await changed(kernel)


def token_out(token: RuntimeToken) -> dict[str, Any]:
    return {"id": str(token.id), "label": token.label, "createdAt": token.created_at,
            "lastUsedAt": token.last_used_at}


# -- bot user tokens ---------------------------------------------------------------------------


async def issue_bot_token(kernel: Kernel, identity_id: int, scopes: list[str]) -> tuple[BotToken, str]:
    """A new bot user token for the identity, replacing the previous one."""
    chosen = scope_rules.bot_token_scopes(scopes)  # before the old token goes: a refused call changes nothing
    token = BOT_PREFIX + secrets.token_hex(32)
    async with in_transaction():
        # The identity's row lock queues concurrent issues (PostgreSQL): each replaces the one before.
        await AgentIdentity.filter(id=identity_id).select_for_update().first()
        await BotToken.filter(identity_id=identity_id).delete()
        record = await BotToken.create(identity_id=identity_id, token_hash=digest(token), scopes=chosen)
    await changed(kernel)
    return record, token


async def bot_token(identity_id: int) -> BotToken | None:
    return await BotToken.get_or_none(identity_id=identity_id)


async def revoke_bot_token(kernel: Kernel, identity_id: int) -> bool:
    removed = await BotToken.filter(identity_id=identity_id).delete()
    await changed(kernel)
    return bool(removed)
