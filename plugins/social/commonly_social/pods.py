"""The optional pods plugin, seen from here: membership and visibility of pod-scoped posts.

``commonly_pods`` is imported only inside functions and only when the pods plugin is loaded in
this app: the social plugin works without it (no pod posts then: a ``podId`` is refused).
"""

from __future__ import annotations

import uuid
from typing import Any

from commonly_kernel import Actor, BadRequest, Forbidden, Kernel, NotFound


def pods_loaded(kernel: Kernel) -> bool:
    """Whether the pods plugin is loaded in this app."""
    return any(info.name == "pods" for info in kernel.plugins)


def require_pods(kernel: Kernel) -> None:
    if not pods_loaded(kernel):
        raise BadRequest("Pods are not available on this server, so `podId` cannot be used.",
                         code="pods_unavailable")


def normalise_pod_id(pod_id: str) -> str | None:
    """The canonical form of a pod id, or None when it cannot be one."""
    try:
        return str(uuid.UUID(pod_id))
    except (ValueError, AttributeError, TypeError):
        return None


async def member_pod_ids(kernel: Kernel, user_id: str) -> set[str]:
    """The pods ``user_id`` belongs to (empty without the pods plugin)."""
    if not pods_loaded(kernel):
        return set()
    import commonly_pods

    return {str(pod_id) for pod_id in await commonly_pods.member_pod_ids(user_id)}


async def member_role(kernel: Kernel, pod_id: Any, user_id: str) -> str | None:
    """``admin``, ``member`` or None (also None without the pods plugin)."""
    if pod_id is None or not pods_loaded(kernel):
        return None
    import commonly_pods

    return await commonly_pods.member_role(str(pod_id), user_id)


WRITER_ROLES = ("admin", "member")


async def member_pod(kernel: Kernel, actor: Actor, pod_id: str, *, write: bool = False) -> str:
    """The canonical id of a pod ``actor`` belongs to, for reading (any role) or posting
    (``write``: admin or member, not a viewer) in it.

    400 without the pods plugin; 404 for a pod that does not exist or that the actor may not
    even see; 403 for an open pod the actor sees but is not a member of, and for a viewer's post.
    """
    require_pods(kernel)
    import commonly_pods

    canonical = normalise_pod_id(pod_id)
    pod = await commonly_pods.get_pod(canonical) if canonical else None
    if pod is None:
        raise NotFound("No such pod.", code="pod_not_found")
    role = await commonly_pods.member_role(canonical, actor.id)
    if role is not None:
        if write and role not in WRITER_ROLES:
            raise Forbidden("Viewers may read this pod's posts but not post.", code="read_only_member")
        return canonical
    if await commonly_pods.visible_pods(actor, [canonical]):
        raise Forbidden("Only members of this pod may read or write its posts.", code="not_a_member")
    raise NotFound("No such pod.", code="pod_not_found")


async def visible_pod_summaries(kernel: Kernel, actor: Actor, pod_ids: Any, limit: int) -> list[dict[str, Any]]:
    """Of ``pod_ids``, the pods ``actor`` may see (newest first, at most ``limit``), as summaries."""
    if not pods_loaded(kernel) or not pod_ids:
        return []
    import commonly_pods

    pods = await commonly_pods.visible_pods(actor, [str(pod_id) for pod_id in pod_ids])
    return [commonly_pods.pod_summary(pod) for pod in pods[:limit]]


async def own_pod_summaries(kernel: Kernel, pod_ids: Any, limit: int) -> list[dict[str, Any]]:
    """Summaries of pods the caller belongs to (so may see), newest first, at most ``limit``."""
    if not pods_loaded(kernel) or not pod_ids:
        return []
    import commonly_pods

    found = await commonly_pods.pods_by_ids([str(pod_id) for pod_id in pod_ids])
    newest = sorted(found.values(), key=lambda pod: pod.created_at, reverse=True)
    return [commonly_pods.pod_summary(pod) for pod in newest[:limit]]


async def notify(kernel: Kernel, user_id: str, payload: dict[str, Any]) -> None:
    """A ``notification`` socket event to one user (only when the pods plugin runs the rooms)."""
    if not pods_loaded(kernel):
        return
    import commonly_pods

    await commonly_pods.notify_user(kernel, user_id, payload)
