"""Pods and their members: who may see a pod, read its content, and administer it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from commonly_auth import users_by_ids
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, Forbidden, Kernel, NotFound, RuleRefused, fetch_all

from .cache import CACHE, POD_CHANGED
from .models import Message, Pod, PodAsset, PodMember

Need = Literal["see", "read", "admin"]

MEMBER_LEFT = "pods.member-left"  # broadcast channel: "<podId> <userId>", every process drops its sockets


@dataclass(frozen=True)
class PodAccess:
    """A pod as one actor may use it: ``role`` is the actor's membership role (None if not in it)."""

    pod: Pod
    actor: Actor
    role: str | None

    @property
    def is_member(self) -> bool:
        return self.role is not None

    @property
    def acts_as_admin(self) -> bool:
        """Pod admins, and global admins everywhere but agent-admin DM pods."""
        return self.role == "admin" or _global_admin_reaches(self.pod, self.actor)


def _global_admin_reaches(pod: Pod, actor: Actor) -> bool:
    return actor.is_admin and actor.kind == "user" and pod.type != "agent-admin"


def parse_pod_id(pod_id: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(pod_id))
    except ValueError:
        return None


async def get_pod(pod_id: object) -> Pod | None:
    """The pod, or None for a missing or malformed id."""
    parsed = parse_pod_id(pod_id)
    return await Pod.get_or_none(id=parsed) if parsed else None


async def member_role(pod_id: object, user_id: object) -> str | None:
    """``admin``, ``member``, ``viewer``, or None when the user is not in the pod."""
    parsed, user = parse_pod_id(pod_id), parse_pod_id(user_id)  # user ids are UUIDs too
    if parsed is None or user is None:
        return None
    roles = await PodMember.filter(pod_id=parsed, user_id=user).values_list("role", flat=True)
    return roles[0] if roles else None


_POD_AND_ROLE = (
    "SELECT p.id, p.name, p.description, p.type, p.join_policy, p.created_by_id, p.memory_version, p.created_at, "
    "p.updated_at, m.role AS member_role FROM pods_pod p "
    "LEFT JOIN pods_member m ON m.pod_id = p.id AND m.user_id = ? WHERE p.id = ?"
)


async def _pod_and_role(pod_id: object, user_id: str) -> tuple[Pod | None, str | None]:
    """The pod and the user's role in it, in one query: every pod route starts here, and two ORM
    reads were a third of a message page's time."""
    parsed, user = parse_pod_id(pod_id), parse_pod_id(user_id)
    if parsed is None:
        return None, None
    cached = CACHE.access(str(parsed), str(user))
    if cached is not None:
        values, role = cached
        return Pod._init_from_db(**values), role
    rows = await fetch_all(_POD_AND_ROLE, [str(user or ""), str(parsed)])
    if not rows:
        return None, None
    row = rows[0]
    role = row.pop("member_role")
    pod = Pod._init_from_db(**row)  # a full row: Tortoise builds the instance as a query would
    # Kept as Python values (SQLite gives text timestamps): a cached read parses nothing.
    CACHE.keep_access(str(parsed), str(user), {column: getattr(pod, column) for column in row}, role)
    return pod, role


async def access(pod_id: object, actor: Actor, need: Need = "read") -> PodAccess:
    """The pod if ``actor`` may ``see`` it (as an object), ``read`` its content, or ``admin`` it.

    Missing pods and private pods the actor is not in are 404 (ids cannot be probed); an open
    pod's content is 403 to non-members.
    """
    pod, role = await _pod_and_role(pod_id, actor.id)
    if pod is None:
        raise NotFound("No such pod.", code="pod_not_found")
    granted = PodAccess(pod, actor, role)
    if not granted.is_member and pod.is_private and not _global_admin_reaches(pod, actor):
        raise NotFound("No such pod.", code="pod_not_found")
    if need != "see" and not (granted.is_member or _global_admin_reaches(pod, actor)):
        raise Forbidden("Only members of this pod may do this.", code="not_a_member")
    if need == "admin" and not granted.acts_as_admin:
        raise Forbidden("Only the pod's admin may do this.", code="pod_admin_required")
    return granted


async def list_pods(actor: Actor, *, scope: str, pod_type: str | None, limit: int,
                    before: str | None) -> tuple[list[Pod], bool]:
    """A page of pods for ``GET /api/pods``, newest first, and whether more remain."""
    mine = PodMember.filter(user_id=actor.id).values_list("pod_id", flat=True)
    query = Pod.all()
    if scope == "mine":
        query = query.filter(id__in=await mine)
    elif scope == "discover":
        query = query.filter(join_policy="open").exclude(type="agent-admin").exclude(id__in=await mine)
    elif not actor.is_admin:
        raise Forbidden("Only administrators may list every pod.", code="admin_required")
    if pod_type == "agent-admin":
        # DM pods are only ever one's own, whatever the scope (not even global admins read them).
        query = query.filter(type="agent-admin", id__in=await mine)
    elif pod_type:
        query = query.filter(type=pod_type)
    else:
        query = query.exclude(type="agent-admin")
    if before:
        cursor = await get_pod(before)
        # A private pod the caller cannot see is no cursor either: its id must not be probed.
        if cursor is None or (cursor.is_private and not _global_admin_reaches(cursor, actor)
                              and await member_role(cursor.id, actor.id) is None):
            raise RuleRefused("`before` is not a pod id.", code="invalid_cursor")
        query = query.filter(Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, id__lt=cursor.id))
    pods = await query.order_by("-created_at", "-id").limit(limit + 1)
    return pods[:limit], len(pods) > limit


async def create_pod(kernel: Kernel, creator_id: str, *, name: str, description: str = "", pod_type: str = "chat",
                     join_policy: str = "open", members: Iterable[str] = ()) -> Pod:
    """Create a pod whose creator is its admin and first member. Public: the registry creates
    agent-admin DM pods with it (``members`` joins others at once)."""
    async with in_transaction():
        pod = await Pod.create(name=name, description=description, type=pod_type, join_policy=join_policy,
                               created_by_id=creator_id)
        others = [user_id for user_id in dict.fromkeys(members) if user_id != creator_id]
        await PodMember.bulk_create([PodMember(pod_id=pod.id, user_id=creator_id, role="admin")]
                                    + [PodMember(pod_id=pod.id, user_id=user_id, role="member") for user_id in others])
    for user_id in [creator_id, *others]:
        await kernel.hooks.pod_member_changed(pod, user_id, "joined")
    return pod


async def update_pod(kernel: Kernel, granted: PodAccess, changes: dict[str, object]) -> Pod:
    pod = granted.pod
    if "type" in changes and changes["type"] != pod.type and "agent-admin" in (changes["type"], pod.type):
        raise RuleRefused("A pod cannot become, or stop being, an agent-admin DM pod.", code="invalid_type")
    for field, value in changes.items():
        setattr(pod, field, value)
    if changes:
        await pod.save(update_fields=[*changes, "updated_at"])
        await kernel.broadcast.publish(POD_CHANGED, str(pod.id))
    return pod


async def delete_pod(kernel: Kernel, pod: Pod) -> None:
    """Delete the pod with its messages, assets and memberships, then tell other plugins."""
    async with in_transaction():
        # The pod row first, as ``lock_pod`` takes it: a transaction that changes the pod's rows
        # (the registry seating a bot) then runs wholly before or after this one, never crosswise.
        await Pod.filter(id=pod.id).select_for_update().only("id").first()
        await Message.filter(pod_id=pod.id).delete()
        await PodAsset.filter(pod_id=pod.id).delete()
        await PodMember.filter(pod_id=pod.id).delete()
        await pod.delete()
    await kernel.broadcast.publish(POD_CHANGED, str(pod.id))
    await kernel.hooks.pod_deleted(str(pod.id))


async def lock_pod(pod_id: object) -> bool:
    """Inside a transaction: keep the pod from being deleted until it ends (False: it is gone).
    Take it before changing rows that deleting the pod would delete or lock (its members, another
    plugin's rows that cascade from it): ``delete_pod`` locks the pod row first too, so the two
    wait for each other instead of deadlocking. Other writers of the pod's rows are not blocked
    (``FOR NO KEY UPDATE``; a no-op on SQLite, which has one writer at a time)."""
    return await Pod.filter(id=pod_id).select_for_update(no_key=True).only("id").first() is not None


async def add_member(kernel: Kernel, pod: Pod, user_id: str, role: str = "member") -> bool:
    """Add a member (idempotent); True when the user was not in the pod before. Public: the
    registry adds an installed agent's bot user with it."""
    try:
        _, created = await PodMember.get_or_create(pod_id=pod.id, user_id=user_id, defaults={"role": role})
    except IntegrityError:  # a concurrent join won the race (the user is in), or the pod is gone
        if not await Pod.exists(id=pod.id):
            raise NotFound("No such pod.", code="pod_not_found") from None
        created = False
    if created:
        await kernel.broadcast.publish(POD_CHANGED, str(pod.id))
        await kernel.hooks.pod_member_changed(pod, user_id, "joined")
    return created


async def join(kernel: Kernel, granted: PodAccess) -> Pod:
    if granted.actor.kind == "agent" and not granted.is_member:
        # An agent's token reaches only the pods it is installed in: installing seats it.
        raise Forbidden("Agents join pods by being installed in them.", code="join_refused")
    if not granted.is_member:
        if granted.pod.join_policy != "open" or granted.pod.type == "agent-admin":
            raise Forbidden("This pod is invite-only.", code="join_refused")
        await add_member(kernel, granted.pod, granted.actor.id)
    return granted.pod


async def leave(kernel: Kernel, granted: PodAccess) -> Pod:
    if not granted.is_member:
        raise RuleRefused("You are not a member of this pod.", code="not_a_member")
    if _is_creator(granted.pod, granted.actor.id):
        raise RuleRefused("The pod's creator cannot leave it; delete the pod instead.", code="creator_cannot_leave")
    await remove_member(kernel, granted.pod, granted.actor.id, change="left")
    return granted.pod


async def remove_member(kernel: Kernel, pod: Pod, user_id: str, *, change: str = "removed") -> bool:
    """Take a user out of a pod (and out of its socket.io room in every process). Public: the
    registry removes an uninstalled agent's bot user with it. ``change`` is what
    ``commonly_pod_member_changed`` hears: ``removed`` (by someone else) or ``left``."""
    if _is_creator(pod, user_id):
        raise RuleRefused("The pod's creator cannot be removed.", code="creator_cannot_be_removed")
    removed = await PodMember.filter(pod_id=pod.id, user_id=user_id).delete()
    if removed:
        await kernel.broadcast.publish(POD_CHANGED, str(pod.id))
        await kernel.broadcast.publish(MEMBER_LEFT, f"{pod.id} {user_id}")
        await kernel.hooks.pod_member_changed(pod, user_id, change)
    return bool(removed)


def _is_creator(pod: Pod, user_id: object) -> bool:
    return pod.created_by_id is not None and str(pod.created_by_id) == str(user_id)


async def member_pod_ids(user_id: object) -> set[str]:
    """Ids of the pods a user belongs to (one query)."""
    ids = await PodMember.filter(user_id=str(user_id)).values_list("pod_id", flat=True)
    return {str(pod_id) for pod_id in ids}


async def pods_by_ids(pod_ids: Iterable[object]) -> dict[str, Pod]:
    """Pods by id in one query; malformed ids are skipped."""
    parsed = {pod_id for pod_id in map(parse_pod_id, pod_ids) if pod_id}
    return {str(pod.id): pod for pod in await Pod.filter(id__in=parsed)} if parsed else {}


async def visible_pods(actor: Actor, pod_ids: Iterable[object]) -> list[Pod]:
    """Of ``pod_ids``, the pods ``actor`` may see as objects, newest first."""
    pods = await pods_by_ids(pod_ids)
    mine = await member_pod_ids(actor.id)
    seen = [pod for pod_id, pod in pods.items()
            if pod_id in mine or not pod.is_private or _global_admin_reaches(pod, actor)]
    return sorted(seen, key=lambda pod: pod.created_at, reverse=True)


async def members_of(pod_ids: Iterable[object]) -> dict[str, list[PodMember]]:
    """Memberships of several pods in one query, oldest first."""
    grouped: dict[str, list[PodMember]] = {}
    ids = [pod_id for pod_id in map(parse_pod_id, pod_ids) if pod_id]
    for member in await PodMember.filter(pod_id__in=ids).order_by("joined_at", "id"):
        grouped.setdefault(str(member.pod_id), []).append(member)
    return grouped


def pod_summary(pod: Pod) -> dict[str, str]:
    """``{id, name, description, type}``: a pod as other objects mention it."""
    return {"id": str(pod.id), "name": pod.name, "description": pod.description, "type": pod.type}




async def describe(pods: list[Pod], viewer_id: str) -> list[dict[str, object]]:
    """Pods as the wire shows them, with members (two queries for any number of pods)."""
    memberships = await members_of(pod.id for pod in pods)
    users = await users_by_ids({member.user_id for group in memberships.values() for member in group})
    described = []
    for pod in pods:
        group = [member for member in memberships.get(str(pod.id), []) if str(member.user_id) in users]
        described.append({
            "id": str(pod.id), "_id": str(pod.id), "name": pod.name, "description": pod.description,
            "type": pod.type, "joinPolicy": pod.join_policy,
            "createdBy": str(pod.created_by_id) if pod.created_by_id else None,
            "members": [_member_out(member, users[str(member.user_id)]) for member in group],
            "memberCount": len(group),
            "role": next((member.role for member in group if str(member.user_id) == viewer_id), None),
            "createdAt": pod.created_at, "updatedAt": pod.updated_at,
        })
    return described


def _member_out(member: PodMember, user: object) -> dict[str, object]:
    return {"id": str(user.id), "_id": str(user.id), "username": user.username,  # type: ignore[attr-defined]
            "profilePicture": user.profile_picture, "isBot": user.is_bot,  # type: ignore[attr-defined]
            "role": member.role, "joinedAt": member.joined_at}
