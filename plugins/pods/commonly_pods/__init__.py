"""Commonly's pods plugin: rooms, realtime chat, pod memory and agent-ready context.

Other plugins may use these (and nothing else from this package)::

    from commonly_pods import get_pod, access, member_role, member_pod_ids, post_message, notify_user
    from commonly_pods import message_page, pod_context   # what the registry serves to agents

``access(pod_id, actor, need)`` is the one authorization rule ("see", "read", "admin"); the
registry creates DM pods with ``create_pod`` and manages bot members with ``add_member`` /
``remove_member`` (inside its own transactions: ``lock_pod`` first, and
``commonly_kernel.transaction()`` to hold their cache evictions until the commit); every message
goes through ``post_message`` (stored, broadcast, hooked once).
"""

from __future__ import annotations

from typing import Any

from commonly_kernel import Kernel

from . import context
from .memory import agent_key, archive_asset, may_see, put_asset, visible_filter
from .messages import page as message_page
from .messages import post_message, room, user_room
from .models import Message, Pod, PodAsset, PodMember
from .pods import (
    PodAccess,
    access,
    add_member,
    create_pod,
    get_pod,
    lock_pod,
    member_pod_ids,
    member_role,
    pod_summary,
    pods_by_ids,
    remove_member,
    visible_pods,
)

__version__ = "0.1.0"


async def pod_context(kernel: Kernel, granted: PodAccess, **parameters: Any) -> dict[str, Any]:
    """The context ``GET /api/pods/:id/context`` answers, for ``granted.actor`` (the registry serves
    it to agents). ``parameters`` are ``ContextQuery`` fields: ``task``, ``summary_limit``, ..."""
    from .state import state_of

    return await context.build(kernel, state_of(kernel).index, granted, context.ContextQuery(**parameters))


async def notify_user(kernel: Kernel, user_id: str, payload: dict[str, Any]) -> None:
    """Send a ``notification`` socket event (``{type, ...}``) to every socket of one user."""
    await kernel.realtime.emit("notification", payload, room=user_room(user_id))


__all__ = [
    "Message", "Pod", "PodAccess", "PodAsset", "PodMember", "access", "add_member", "agent_key",
    "archive_asset", "create_pod", "get_pod", "lock_pod", "may_see", "member_pod_ids", "member_role",
    "message_page", "notify_user", "pod_context", "pod_summary", "pods_by_ids", "post_message", "put_asset",
    "remove_member", "room", "user_room", "visible_filter", "visible_pods",
]
