"""Installations of agents in pods, and the bot identities they act as."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import commonly_pods
from commonly_auth import create_bot_user, users_by_ids, users_by_usernames
from tortoise import timezone
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, BadRequest, Conflict, Forbidden, Kernel, NotFound, RuleRefused, transaction

from . import scopes as scope_rules
from .catalog import NAME
from .models import AgentEvent, AgentIdentity, Installation

INSTALLED = ("active", "paused")
CACHE_SECONDS = 5.0  # as long as the token cache: both are evicted by the same broadcast
USERNAME_LIMIT = 50
INSTANCE_LIMIT = 80  # the instance_id columns' size
IDENTITY_ATTEMPTS = 5


def slug(text: str) -> str:
    """Lower-case, every run of other characters turned into ``-``, trimmed: "Helper Bot 2" → ``helper-bot-2``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def instance_for_install(agent_name: str, instance_id: str | None, display_name: str | None) -> str:
    """``instanceId`` as given, else the slug of ``displayName``, else ``default``; the agent's own
    name (or its slug) means ``default`` (the original CLI installs with displayName = the name)."""
    chosen = (slug(instance_id) if instance_id else slug(display_name or ""))[:INSTANCE_LIMIT].strip("-")
    return "default" if not chosen or chosen in (agent_name, slug(agent_name)) else chosen


async def resolve(pod_id: object, agent_name: str, instance_id: str | None) -> Installation:
    """The installation routes under ``/pods/:podId/agents/:name`` mean (see the README's rule)."""
    if not NAME.match(agent_name):  # never installed (and too long for the column, maybe)
        raise NotFound(f"{agent_name} is not installed in this pod.", code="installation_not_found")
    installed = await Installation.filter(pod_id=pod_id, agent_name=agent_name, status__in=INSTALLED)
    if instance_id:
        wanted = "default" if instance_id == agent_name else instance_id
        match = next((item for item in installed if item.instance_id == wanted), None)
        if match is None:
            raise NotFound(f"{agent_name} ({wanted}) is not installed in this pod.", code="installation_not_found")
        return match
    default = next((item for item in installed if item.instance_id == "default"), None)
    if default is not None:
        return default
    if len(installed) == 1:
        return installed[0]
    if not installed:
        raise NotFound(f"{agent_name} is not installed in this pod.", code="installation_not_found")
    raise BadRequest(f"Several instances of {agent_name} are installed here; name one with instanceId.",
                     code="instance_required")


class InstallationCache:
    """``resolve`` and ``active_in`` answers kept per process for a few seconds: other plugins
    enqueue events for the same installations all day (the lookup was two thirds of an enqueue),
    and every message with an @mention is matched against its pod's. Any change to
    installations empties it in every process (``tokens.TOKENS_CHANGED``; other processes hear it
    through Redis a moment later). A stale answer never queues an event: the insert itself checks
    that the installation is still active (``events.enqueue``)."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, str | None], tuple[Any, float]] = {}
        self._active_in: dict[str, tuple[Any, float]] = {}
        self._generation = 0  # bumped by clear(): a lookup that was in flight then is not kept

    async def resolve(self, pod_id: object, agent_name: str, instance_id: str | None) -> Installation:
        key = (str(pod_id), agent_name, instance_id)
        return await self._kept(self._found, key, lambda: resolve(pod_id, agent_name, instance_id))

    async def active_in(self, pod_id: object) -> list[Installation]:
        """The pod's active installations, their identities loaded: what every message's @mentions
        are matched against (loading them was most of a mentioning message's cost)."""
        return await self._kept(self._active_in, str(pod_id),
                                lambda: Installation.filter(pod_id=pod_id, status="active").select_related("identity"))

    def clear(self, _note: Any = None) -> None:
        self._generation += 1
        self._found.clear()
        self._active_in.clear()

    async def _kept(self, store: dict[Any, tuple[Any, float]], key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = store.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        generation = self._generation
        value = await load()
        if generation == self._generation:
            if len(store) > 10_000:
                store.clear()
            store[key] = (value, time.monotonic() + CACHE_SECONDS)
        return value


async def identity_for(agent_name: str, instance_id: str) -> AgentIdentity:
    """The identity of ``(agentName, instanceId)``, with its bot user made on first use."""
    for _ in range(IDENTITY_ATTEMPTS):
        found = await AgentIdentity.get_or_none(agent_name=agent_name, instance_id=instance_id)
        if found is not None:
            return found
        try:
            async with in_transaction():  # the bot user and its identity together, or neither
                user = await create_bot_user(await _free_username(bot_username(agent_name, instance_id)),
                                             bio=f"Agent {agent_name} ({instance_id})")
                return await AgentIdentity.create(agent_name=agent_name, instance_id=instance_id, user_id=user.id)
        except IntegrityError:  # made concurrently, or its username just taken: look again
            continue
    raise Conflict(f"{agent_name} ({instance_id}) is being installed concurrently; try again.",
                   code="install_conflict")


def bot_username(agent_name: str, instance_id: str) -> str:
    base = agent_name if instance_id == "default" else f"{agent_name}-{instance_id}"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-")[:USERNAME_LIMIT] or "agent"


async def _free_username(wanted: str) -> str:
    candidates = [wanted] + [f"{wanted[:USERNAME_LIMIT - 6]}-bot{n or ''}" for n in range(10)]
    taken = await users_by_usernames(candidates)
    return next(name for name in candidates if name.lower() not in taken)


async def install(kernel: Kernel, actor: Actor, agent: dict[str, Any], pod_id: str, *, instance_id: str | None,
                  display_name: str | None, version: str | None, config: dict[str, Any],
                  scopes: list[str] | None) -> Installation:
    granted = await commonly_pods.access(pod_id, actor, "read")
    if not granted.is_member:
        raise Forbidden("Only members of this pod may install agents in it.", code="not_a_member")
    name = agent["name"]
    chosen_scopes = scope_rules.normalise(scope_rules.DEFAULT if scopes is None else scopes)
    required = scope_rules.normalise(agent["manifest"].get("requiredScopes") or [], field="requiredScopes")
    missing = [scope for scope in required if scope not in scope_rules.granted(chosen_scopes)]
    if missing:
        raise BadRequest(f"{name} needs the scopes {', '.join(missing)}.", code="missing_scopes",
                         details={"missingScopes": missing})
    instance = instance_for_install(name, instance_id, display_name)
    identity = await identity_for(name, instance)
    fields = {"display_name": display_name or agent["displayName"], "version": version or agent["version"],
              "config": config, "scopes": chosen_scopes, "status": "active", "installed_by_id": actor.id,
              "identity_id": identity.id}
    duplicate = Conflict(f"{name} ({instance}) is already installed in this pod.", code="already_installed")
    try:
        async with transaction():  # add_member's cache evictions go out after the commit
            if not await commonly_pods.lock_pod(granted.pod.id):  # the pod's lock first, as its deletion takes it
                raise NotFound("No such pod.", code="pod_not_found")
            existing = await Installation.filter(agent_name=name, pod_id=granted.pod.id,
                                                 instance_id=instance).select_for_update().first()
            if existing is not None and existing.status in INSTALLED:
                raise duplicate
            if existing is None:
                installation = await Installation.create(agent_name=name, pod_id=granted.pod.id,
                                                         instance_id=instance, webhook_secret=secrets.token_hex(32),
                                                         **fields)
            else:
                installation = existing
                for key, value in fields.items():
                    setattr(installation, key, value)
                await installation.save()
            # Seated in the same transaction (as ``uninstall`` unseats): an uninstall of this row
            # then cannot run between the two and leave an uninstalled bot in the pod.
            await commonly_pods.add_member(kernel, granted.pod, str(identity.user_id))
    except IntegrityError:  # a concurrent install of the same instance inserted it first
        raise duplicate from None
    return installation


async def may_manage(installation: Installation, actor: Actor) -> None:
    """The installer, the pod's admin or a global admin (not in DM pods) may change or remove it."""
    if installation.installed_by_id is not None and str(installation.installed_by_id) == actor.id:
        return
    granted = await commonly_pods.access(installation.pod_id, actor, "read")
    if not granted.acts_as_admin:
        raise Forbidden("Only the installer or the pod's admin may do this.", code="not_allowed")


async def update(installation: Installation, changes: dict[str, Any]) -> Installation:
    """Apply ``changes`` to an installed (active or paused) installation; the row as it is now."""
    if "scopes" in changes:
        changes["scopes"] = scope_rules.normalise(changes["scopes"])
    if changes.get("status") == "uninstalled":
        raise RuleRefused("Uninstall with DELETE /api/registry/agents/:name/pods/:podId.", code="invalid_status")
    gone = NotFound(f"{installation.agent_name} is not installed in this pod.", code="installation_not_found")
    # Only the changed columns, and only while still installed: a full-row save of the row read
    # earlier would undo a concurrent uninstall, or another PATCH's fields.
    updated = await Installation.filter(id=installation.id, status__in=INSTALLED).update(
        **changes, updated_at=timezone.now())
    if not updated:
        raise gone
    fresh = await Installation.get_or_none(id=installation.id)
    if fresh is None:  # its pod was deleted meanwhile
        raise gone
    return fresh


async def uninstall(kernel: Kernel, installation: Installation) -> Installation:
    """Mark it uninstalled, drop its waiting events, take the bot user out of the pod."""
    identity = await AgentIdentity.get(id=installation.identity_id)
    pod = await commonly_pods.get_pod(installation.pod_id)
    # The bot leaves in the same transaction as the status changes: a reinstall (which locks the
    # row, then seats the bot) waits for both, so it cannot seat the bot before we unseat it.
    async with transaction():  # remove_member's cache evictions go out after the commit
        if pod is not None:
            await commonly_pods.lock_pod(pod.id)  # the pod's lock first, as its deletion takes it
        installation.status = "uninstalled"
        await installation.save(update_fields=["status", "updated_at"])
        await AgentEvent.filter(agent_name=installation.agent_name, instance_id=installation.instance_id,
                                pod_id=installation.pod_id, status__in=("pending", "claimed")).delete()
        if pod is not None:
            await commonly_pods.remove_member(kernel, pod, str(identity.user_id))
    return installation


async def describe(installations: list[Installation], icons: dict[str, str] | None = None,
                   registry_icons: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Installations as the wire shows them (bot users loaded in one query)."""
    identities = {identity.id: identity for identity in
                  await AgentIdentity.filter(id__in={item.identity_id for item in installations})}
    users = await users_by_ids(str(identity.user_id) for identity in identities.values())
    described = []
    for item in installations:
        bot = users.get(str(identities[item.identity_id].user_id)) if item.identity_id in identities else None
        icon = (icons or {}).get(item.agent_name) or (registry_icons or {}).get(item.agent_name, "")
        described.append({
            "id": str(item.id), "_id": str(item.id), "agentName": item.agent_name, "podId": str(item.pod_id),
            "instanceId": item.instance_id, "displayName": item.display_name, "version": item.version,
            "config": item.config, "scopes": item.scopes, "status": item.status,
            "installedBy": str(item.installed_by_id) if item.installed_by_id else None,
            "botUserId": str(bot.id) if bot else None, "botUsername": bot.username if bot else None,
            "iconUrl": icon, "createdAt": item.created_at, "updatedAt": item.updated_at,
        })
    return described


async def admin_page(q: str | None, status: str | None, limit: int,
                     before: str | None) -> tuple[list[Installation], bool]:
    query = Installation.all()
    if q:
        query = query.filter(Q(agent_name__icontains=q) | Q(display_name__icontains=q) | Q(instance_id__icontains=q))
    if status:
        query = query.filter(status=status)
    if before:
        cursor = await Installation.get_or_none(id=parse_uuid(before)) if parse_uuid(before) else None
        if cursor is None:
            raise BadRequest("`before` is not an installation id.", code="invalid_cursor")
        query = query.filter(Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, id__lt=cursor.id))
    found = await query.order_by("-created_at", "-id").limit(limit + 1)
    return found[:limit], len(found) > limit


def parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
