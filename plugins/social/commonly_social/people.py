"""People: the directory, profiles, profile changes, following people, public activity.

Accounts belong to the auth plugin. Reads go through its public API; the few queries it does
not offer (the directory, the profile update) use its model as registered with Tortoise
(``"auth.User"``), and every change is announced with ``commonly_auth.user_changed`` so each
process forgets its cached copy.
"""

from __future__ import annotations

import uuid
from typing import Any

import commonly_auth
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, Conflict, Forbidden, Kernel, NotFound, RuleRefused, ValidationFailed

from . import activity, pods
from .cache import changed
from .models import Follow

PUBLIC_POSTS = 8
PUBLIC_PODS = 8


def user_model() -> Any:
    """The auth plugin's ``User`` model (part of its public API)."""
    return commonly_auth.User


async def user_or_404(user_id: uuid.UUID | str) -> Any:
    user = await commonly_auth.get_user(user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


async def list_users(q: str | None, limit: int, before: str | None) -> tuple[list[Any], bool]:
    """People, newest first; ``q`` matches the username; ``before`` is the last id seen."""
    User = user_model()
    query = User.all()
    if q and q.strip():
        query = query.filter(username__icontains=q.strip())
    if before:
        query = query.filter(await _older_than(before))
    users = await query.order_by("-created_at", "-id").limit(limit + 1)
    return users[:limit], len(users) > limit


async def _older_than(user_id: str) -> Q:
    cursor = await commonly_auth.get_user(user_id)
    if cursor is None:
        raise ValidationFailed("`before` is not the id of a user.",
                               details=[{"field": "before", "message": "unknown user id", "type": "invalid"}])
    return Q(created_at__lt=cursor.created_at) | (Q(created_at=cursor.created_at) & Q(id__lt=cursor.id))


async def profile(actor: Actor, user_id: uuid.UUID) -> dict[str, Any]:
    """A public profile with follow counts; the email only for the user and administrators."""
    user = await user_or_404(user_id)
    followers, following = await activity.follow_counts(str(user.id))
    is_following = await Follow.exists(follower_id=actor.id, followee_id=user.id)
    show_email = actor.id == str(user.id) or actor.is_admin
    return {"user": user, "followers": followers, "following": following, "is_following": is_following,
            "email": user.email if show_email else None}


async def update_profile(kernel: Kernel, actor: Actor, user_id: uuid.UUID, data: Any) -> Any:
    """The user changes their own bio, picture (``avatar``), interests or username; others 403."""
    if actor.id != str(user_id):
        raise Forbidden("You may only change your own profile.", code="not_yourself")
    user = await user_or_404(user_id)  # a fresh row: the actor's record is a shared cached copy
    fields = _apply(user, data)
    if not fields:
        return user
    if "username" in fields:
        await _refuse_taken_username(user)
    try:
        async with in_transaction():
            await user.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise Conflict("This username is taken.", code="username_taken") from None
    await commonly_auth.user_changed(kernel, user.id)
    await changed(kernel)  # pages show the author's name and picture
    return user


def _apply(user: Any, data: Any) -> list[str]:
    changed = []
    if data.bio is not None:
        user.bio = data.bio
        changed.append("bio")
    picture = data.profile_picture if data.profile_picture is not None else data.avatar
    if picture is not None:
        user.profile_picture = picture
        changed.append("profile_picture")
    if data.interests is not None:
        user.interests = [item.strip() for item in data.interests if item.strip()]
        changed.append("interests")
    if data.username is not None and data.username != user.username:
        user.username, user.username_key = data.username, data.username.lower()
        changed += ["username", "username_key"]
    return changed


async def _refuse_taken_username(user: Any) -> None:
    if await user_model().filter(username_key=user.username_key).exclude(id=user.id).exists():
        raise Conflict("This username is taken.", code="username_taken")


async def follow(kernel: Kernel, actor: Actor, user_id: uuid.UUID) -> int:
    """Follow someone (idempotent); they hear of it once. Returns their follower count."""
    user = await user_or_404(user_id)
    if str(user.id) == actor.id:
        raise RuleRefused("You cannot follow yourself.", code="cannot_follow_self")
    if not await Follow.exists(follower_id=actor.id, followee_id=user.id):
        try:
            async with in_transaction():
                await Follow.create(follower_id=actor.id, followee_id=user.id)
                await activity.record(
                    kernel, type="follow", actor=actor, action="started following you", visibility="private",
                    recipients=[(user.id, "follow")], target={"title": actor.username, "url": f"/profile/{actor.id}"},
                )
        except IntegrityError:
            pass  # a concurrent follow made it already (and told them)
        else:
            await changed(kernel)
            await pods.notify(kernel, str(user.id), {
                "type": "follow", "from": {"id": actor.id, "username": actor.username},
            })
    return await Follow.filter(followee_id=user.id).count()


async def unfollow(kernel: Kernel, actor: Actor, user_id: uuid.UUID) -> int:
    """Stop following someone (idempotent). Returns their follower count."""
    user = await user_or_404(user_id)
    if await Follow.filter(follower_id=actor.id, followee_id=user.id).delete():
        await changed(kernel)
    return await Follow.filter(followee_id=user.id).count()


async def public_activity(kernel: Kernel, actor: Actor, user_id: uuid.UUID) -> tuple[list[Any], list[dict[str, Any]]]:
    """A user's latest posts the caller may see, and the pods they are in that the caller may see."""
    from .service import list_posts

    user = await user_or_404(user_id)
    posts, _ = await list_posts(kernel, actor, pod_id=None, category=None, author_id=str(user.id), before=None,
                                limit=PUBLIC_POSTS)
    their_pods = await pods.member_pod_ids(kernel, str(user.id))
    return posts, await pods.visible_pod_summaries(kernel, actor, their_pods, PUBLIC_PODS)
