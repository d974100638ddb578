"""The registry's use cases: what routes, sockets and other plugins call."""

from __future__ import annotations

import contextlib
from typing import Any

import commonly_pods
from tortoise.exceptions import IntegrityError

from commonly_kernel import Actor, BadRequest, Conflict, Forbidden, Kernel, NotFound, lock_until_commit, transaction

from . import catalog, installs, tokens
from .models import AgentIdentity, DirectPod, Gateway, Installation
from .state import state_of

DEFAULT_GATEWAY = "default"
NO_REPLY = "NO_REPLY"


# -- installations -----------------------------------------------------------------------------


async def install(kernel: Kernel, actor: Actor, agent_name: str, pod_id: str, **fields: Any) -> Installation:
    agent = await catalog.find(state_of(kernel).catalog, agent_name, actor)
    installation = await installs.install(kernel, actor, agent, pod_id, **fields)
    await tokens.changed(kernel)
    return installation


async def installation_in(pod_id: str, actor: Actor, agent_name: str, instance_id: str | None,
                          need: str = "read") -> Installation:
    """The installation a ``/pods/:podId/agents/:name`` route means, once ``actor`` may use the pod."""
    granted = await commonly_pods.access(pod_id, actor, need)  # type: ignore[arg-type]
    return await installs.resolve(granted.pod.id, agent_name, instance_id)


async def describe(kernel: Kernel, installations: list[Installation], actor: Actor) -> list[dict[str, Any]]:
    names = {item.agent_name for item in installations}
    entries = state_of(kernel).catalog.entries
    registry_icons = {name: entries[name]["iconUrl"] for name in names if name in entries}
    return await installs.describe(installations, await catalog.icons(names), registry_icons)


async def update(kernel: Kernel, actor: Actor, installation: Installation, changes: dict[str, Any]) -> Installation:
    await installs.may_manage(installation, actor)
    updated = await installs.update(installation, changes)
    await tokens.changed(kernel)
    return updated


async def uninstall(kernel: Kernel, installation: Installation, actor: Actor | None) -> Installation:
    """``actor`` None: a global admin's removal (checked by the route)."""
    if actor is not None:
        await installs.may_manage(installation, actor)
    removed = await installs.uninstall(kernel, installation)
    await tokens.changed(kernel)
    return removed


# -- DM pods -----------------------------------------------------------------------------------


async def direct_pod(kernel: Kernel, user: Actor, agent_name: str, instance_id: str | None) -> tuple[Any, bool]:
    """The agent-admin pod between ``user`` and an agent instance: ``(pod, created)``. Allowed for
    the instance's installers and for members of a pod it is installed in."""
    identity = await _identity(agent_name, instance_id)
    installations = await Installation.filter(identity_id=identity.id, status__in=installs.INSTALLED)
    my_pods = await commonly_pods.member_pod_ids(user.id)
    allowed = any(str(item.installed_by_id) == user.id or str(item.pod_id) in my_pods for item in installations)
    if not allowed:
        raise NotFound(f"{agent_name} is not installed anywhere you are.", code="installation_not_found")
    pod = await _existing_direct_pod(identity, user)
    if pod is not None:
        return pod, False
    display = installations[0].display_name if installations else agent_name
    try:
        async with transaction() as connection:  # create_pod's cache evictions go out after the commit
            # Opens of one DM take turns: a second one finds the first one's pod here, instead of
            # making a pod of its own that the unique (identity, user) row would then roll back.
            await lock_until_commit(connection, f"registry.dm:{identity.id}:{user.id}")
            pod = await _existing_direct_pod(identity, user)
            if pod is not None:
                return pod, False
            pod = await commonly_pods.create_pod(kernel, user.id, name=f"{display} (DM)"[:100],
                                                 description=f"Direct messages with {display}",
                                                 pod_type="agent-admin", join_policy="invite-only",
                                                 members=[str(identity.user_id)])
            await DirectPod.create(identity_id=identity.id, user_id=user.id, pod_id=pod.id)
    except IntegrityError:  # a DM row of a pod being deleted this instant: never a 500
        raise Conflict(f"The DM with {agent_name} is being opened concurrently; try again.",
                       code="dm_conflict") from None
    await tokens.changed(kernel)
    return pod, True


async def _existing_direct_pod(identity: AgentIdentity, user: Actor) -> Any:
    existing = await DirectPod.get_or_none(identity_id=identity.id, user_id=user.id)
    return await commonly_pods.get_pod(existing.pod_id) if existing is not None else None


async def _identity(agent_name: str, instance_id: str | None) -> AgentIdentity:
    if instance_id:
        wanted = "default" if instance_id == agent_name else instance_id
        identity = await AgentIdentity.get_or_none(agent_name=agent_name, instance_id=wanted)
        if identity is None:
            raise NotFound(f"No instance {wanted!r} of {agent_name}.", code="installation_not_found")
        return identity
    identities = await AgentIdentity.filter(agent_name=agent_name)
    default = next((identity for identity in identities if identity.instance_id == "default"), None)
    if default is not None:
        return default
    if len(identities) == 1:
        return identities[0]
    if not identities:
        raise NotFound(f"{agent_name} is not installed anywhere.", code="installation_not_found")
    raise BadRequest(f"Several instances of {agent_name} exist; name one with instanceId.", code="instance_required")


async def runtime_installations(actor: Actor) -> dict[str, Any]:
    identity_id = actor.claims["identityId"]
    installed = await Installation.filter(identity_id=identity_id, status__in=installs.INSTALLED).order_by(
        "created_at")
    directs = await DirectPod.filter(identity_id=identity_id).order_by("id")
    pods = await commonly_pods.pods_by_ids([item.pod_id for item in installed] + [dm.pod_id for dm in directs])
    rows = [_runtime_row(pods.get(str(item.pod_id)), item.instance_id, item.status, "installation",
                         item.display_name, item.scopes) for item in installed]
    rows += [_runtime_row(pods.get(str(dm.pod_id)), actor.claims["instanceId"], "active", "dm", None, [])
             for dm in directs]
    return {"agentName": actor.claims["agentName"], "instanceId": actor.claims["instanceId"],
            "installations": [row for row in rows if row is not None]}


def _runtime_row(pod: Any, instance_id: str, status: str, kind: str, display_name: str | None,
                 scopes: list[str]) -> dict[str, Any] | None:
    if pod is None:
        return None
    return {"podId": str(pod.id), "podName": pod.name, "podType": pod.type, "instanceId": instance_id,
            "status": status, "type": kind, "displayName": display_name or pod.name, "scopes": scopes}


# -- the runtime API ---------------------------------------------------------------------------


def runtime_pod(actor: Actor, pod_id: str) -> None:
    """A runtime or bot token reaches only its instance's pods and DM pods (403 elsewhere)."""
    if pod_id not in actor.claims.get("podScopes", {}):
        raise Forbidden("This agent is not installed in that pod.", code="pod_not_reachable")


async def post_as_agent(kernel: Kernel, actor: Actor, pod_id: str, content: str,
                        reply_to: int | None) -> dict[str, Any] | None:
    """Post in a pod as the agent; None when there is nothing to say (empty or ``NO_REPLY``)."""
    runtime_pod(actor, pod_id)
    if not content.strip() or content.strip() == NO_REPLY:
        return None
    granted = await commonly_pods.access(pod_id, actor, "read")
    if not actor.allows("messages:write", granted.pod.id):
        raise Forbidden("The installation lacks the scope messages:write.", code="missing_scope",
                        details={"missing": ["messages:write"]})
    message, _ = await commonly_pods.post_message(kernel, granted.pod, actor, content, reply_to=reply_to)
    return message


# -- gateways ----------------------------------------------------------------------------------


async def ensure_default_gateway() -> None:
    """Make the ``default`` gateway unless it exists (at startup, in every worker process)."""
    if not await Gateway.exists(slug=DEFAULT_GATEWAY):
        with contextlib.suppress(IntegrityError):  # another process starting at the same moment made it
            await Gateway.create(name="Default gateway", slug=DEFAULT_GATEWAY)


async def create_gateway(slug: str, fields: dict[str, Any]) -> Gateway:
    """A new gateway; 409 when ``slug`` is taken (also by a concurrent create)."""
    try:
        return await Gateway.create(**fields, slug=slug)
    except IntegrityError:  # the unique slug: taken before, or by a concurrent create
        raise Conflict(f"A gateway {slug!r} exists.", code="gateway_exists") from None


def gateway_out(gateway: Gateway) -> dict[str, Any]:
    return {"id": str(gateway.id), "_id": str(gateway.id), "name": gateway.name, "slug": gateway.slug,
            "mode": gateway.mode, "type": gateway.type, "baseUrl": gateway.base_url,
            "configPath": gateway.config_path, "metadata": gateway.metadata, "createdAt": gateway.created_at,
            "updatedAt": gateway.updated_at}
