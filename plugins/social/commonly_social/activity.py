"""The activity feed: recording what happened, and showing each user what they may see.

An activity has a ``visibility`` and optional recipients:

- ``public``: shown to the followers of its actor, to the followers of its thread (``post_id``;
  except the ``post`` activity that started the thread), to the members of its pod if it has one,
  and to its recipients;
- ``pod``: shown to the members of ``pod_id`` and to its recipients;
- ``private``: shown to its recipients only.

Recipients carry a reason (``mention``, ``follow``, ``thread``, ``author``, ...), which the
``mentions`` filter reads. Nobody's feed shows their own actions. Read state: everything up to a
user's ``lastViewedAt`` is read, and so is each activity marked read one by one. The reads
themselves are SQL in ``queries`` (one branch per way an activity reaches a feed).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, Kernel, NotFound, ValidationFailed

from . import pods, queries
from .cache import changed
from .models import Activity, ActivityRead, ActivityRecipient, FeedState, ThreadFollow
from .visibility import visible_followed

VISIBILITIES = ("public", "pod", "private")
ACTOR_TYPES = ("human", "agent", "system")
MAX_ACTION = 200
MAX_CONTENT = 2000
#: unreadCount counts at most this many (clients show "99+"); counting further would scan the
#: whole table for someone who never opens the feed.
UNREAD_CAP = 100
QUICK_PODS = 6
QUICK_THREADS = 6


@dataclass(frozen=True)
class ActivityActor:
    """Who did it: ``type`` is human, agent or system; ``user_id`` the account behind it, if any."""

    id: str | None
    name: str
    type: str
    user_id: str | None = None


def activity_actor(actor: Any) -> ActivityActor:
    """An ``ActivityActor`` from a kernel ``Actor``, an auth ``User``, a dict ``{id, name, type}``
    or None (the system)."""
    if actor is None:
        return ActivityActor(None, "Commonly", "system")
    if isinstance(actor, ActivityActor):
        return actor
    if isinstance(actor, Actor):
        if actor.kind == "agent":
            name = str(actor.claims.get("name") or actor.username or "agent")
            return ActivityActor(actor.id, name, "agent")
        return ActivityActor(actor.id, actor.username, "agent" if actor.is_bot else "human", actor.id)
    if isinstance(actor, dict):
        kind = actor.get("type", "human")
        if kind not in ACTOR_TYPES:
            raise ValueError(f"actor type must be one of {ACTOR_TYPES}")
        actor_id = actor.get("id")
        user_id = actor.get("userId") or (actor_id if kind == "human" else None)
        return ActivityActor(None if actor_id is None else str(actor_id), str(actor.get("name", "")), kind,
                             None if user_id is None else str(user_id))
    if hasattr(actor, "username"):  # an auth User row
        return ActivityActor(str(actor.id), actor.username, "agent" if actor.is_bot else "human", str(actor.id))
    raise TypeError(f"cannot make an activity actor of {type(actor).__name__}")


def _recipient_rows(recipients: Iterable[Any]) -> dict[str, str]:
    """user id → reason; a user named twice keeps the first reason."""
    rows: dict[str, str] = {}
    for item in recipients:
        user_id, reason = item if isinstance(item, tuple) else (item, "direct")
        rows.setdefault(str(uuid.UUID(str(user_id))), reason)
    return rows


async def record(
    kernel: Kernel,
    *,
    type: str,
    actor: Any,
    action: str,
    content: str = "",
    pod_id: Any = None,
    target: dict[str, Any] | None = None,
    visibility: str = "public",
    recipients: Iterable[Any] = (),
    post_id: int | None = None,
    comment_id: int | None = None,
) -> Activity:
    """Store one activity (see ``commonly_social.record_activity``)."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}")
    if visibility == "pod" and pod_id is None:
        raise ValueError("a pod activity needs pod_id")
    who = activity_actor(actor)
    rows = _recipient_rows(recipients)
    if who.user_id is not None:
        rows.pop(who.user_id, None)  # nobody is told about their own action
    if visibility == "private" and not rows:
        raise ValueError("a private activity needs recipients")
    async with in_transaction():
        activity = await Activity.create(
            type=type[:40], actor_id=who.id, actor_user_id=who.user_id, actor_name=who.name[:200],
            actor_type=who.type, action=action[:MAX_ACTION], content=content[:MAX_CONTENT],
            pod_id=None if pod_id is None else str(pod_id), target=_target(target), visibility=visibility,
            post_id=post_id, comment_id=comment_id,
        )
        if rows:
            await ActivityRecipient.bulk_create([
                ActivityRecipient(activity_id=activity.id, user_id=user_id, reason=reason)
                for user_id, reason in rows.items()
            ])
    return activity


def _target(target: dict[str, Any] | None) -> dict[str, Any] | None:
    if target is None:
        return None
    return {key: (None if target.get(key) is None else str(target[key])[:2000]) for key in ("title", "url")}


# -- reading the feed ----------------------------------------------------------------------------


async def read_state(user_id: str) -> datetime | None:
    """The user's ``lastViewedAt``."""
    state = await FeedState.get_or_none(user_id=user_id)
    return None if state is None else state.last_viewed_at


@dataclass
class FeedPage:
    activities: list[Activity]
    read_ids: set[int]
    has_more: bool
    unread_count: int
    pod_ids: list[str]


async def feed(kernel: Kernel, actor: Actor, *, mode: str, filter_name: str, limit: int,
               before: int | None) -> FeedPage:
    """One page of ``actor``'s feed, newest first, with its read state and the unread count."""
    pod_ids = sorted(await pods.member_pod_ids(kernel, actor.id))
    rows = await queries.feed_activities(actor.id, pod_ids, queries.FeedFilter(mode, filter_name, before=before),
                                         limit + 1)
    page = rows[:limit]
    unread = await queries.count_unread(actor.id, pod_ids, queries.FeedFilter(mode, filter_name, unread_only=True),
                                        UNREAD_CAP)
    return FeedPage([item for item, _ in page], {item.id for item, read in page if read}, len(rows) > limit, unread,
                    pod_ids)


async def unread_count(kernel: Kernel, actor: Actor, *, mode: str, filter_name: str) -> int:
    """How many feed items are unread (at most ``UNREAD_CAP``)."""
    pod_ids = sorted(await pods.member_pod_ids(kernel, actor.id))
    wanted = queries.FeedFilter(mode, filter_name, unread_only=True)
    return await queries.count_unread(actor.id, pod_ids, wanted, UNREAD_CAP)


async def mark_read(kernel: Kernel, actor: Actor, activity_id: str | None, everything: bool) -> datetime | None:
    """Mark everything read (``lastViewedAt`` = now) or one activity (``lastViewedAt`` unchanged).

    One activity must be one the caller may see (404 otherwise)."""
    if everything:
        moment = datetime.now(UTC)
        newest = await Activity.all().order_by("-id").first().values_list("id", flat=True)
        await _save_state(actor.id, moment, newest or 0)
        await changed(kernel)
        return moment
    activity = await _visible_activity(kernel, actor, activity_id)
    if not await ActivityRead.exists(user_id=actor.id, activity_id=activity.id):
        with contextlib.suppress(IntegrityError):  # marked twice at once: once is enough
            await ActivityRead.create(user_id=actor.id, activity_id=activity.id)
        await changed(kernel)
    return await read_state(actor.id)


async def _save_state(user_id: str, moment: datetime, newest: int) -> None:
    updated = await FeedState.filter(user_id=user_id).update(last_viewed_at=moment, last_viewed_id=newest)
    if not updated:
        try:
            await FeedState.create(user_id=user_id, last_viewed_at=moment, last_viewed_id=newest)
        except IntegrityError:  # two "mark all" at once: the later one updates instead
            await FeedState.filter(user_id=user_id).update(last_viewed_at=moment, last_viewed_id=newest)


async def _visible_activity(kernel: Kernel, actor: Actor, activity_id: str | None) -> Activity:
    number = None if activity_id is None or not activity_id.isdigit() else int(activity_id)
    if number is None or number >= 2**63:
        raise ValidationFailed("`activityId` is not an activity id.",
                               details=[{"field": "activityId", "message": "not an activity id", "type": "invalid"}])
    pod_ids = sorted(await pods.member_pod_ids(kernel, actor.id))
    found = []
    for mode in ("updates", "actions"):
        found += await queries.feed_activities(actor.id, pod_ids, queries.FeedFilter(mode, activity_id=number), 1)
    if not found:
        raise NotFound("No such activity.", code="activity_not_found")
    return found[0][0]


# -- the quick section ---------------------------------------------------------------------------


async def follow_counts(user_id: str) -> tuple[int, int]:
    """(followers, following) of a user."""
    return await queries.follow_counts(user_id)


async def quick(kernel: Kernel, actor: Actor, member_pods: Iterable[str]) -> dict[str, Any]:
    """``{social {followers, following}, recentPods, followedThreads}`` for the feed's side panel;
    ``member_pods`` are the pods ``actor`` belongs to."""
    member_pods = set(member_pods)
    followers, following = await follow_counts(actor.id)
    recent_pods = await pods.own_pod_summaries(kernel, member_pods, QUICK_PODS)
    return {
        "social": {"followers": followers, "following": following},
        "recent_pods": recent_pods,
        "followed_threads": await followed_threads_summary(actor.id, member_pods),
    }


async def followed_threads_summary(user_id: str, member_pods: set[str]) -> list[dict[str, Any]]:
    """The latest followed threads the user may still see, with their count of new replies."""
    follows = await (ThreadFollow.filter(user_id=user_id).filter(visible_followed(member_pods)).order_by("-id")
                     .limit(QUICK_THREADS).select_related("post"))
    new_replies = await new_reply_counts(user_id, follows)
    return [{
        "id": str(follow.post_id), "post_id": str(follow.post_id), "content": follow.post.content[:200],
        "pod_id": None if follow.post.pod_id is None else str(follow.post.pod_id),
        "comment_count": follow.post.comment_count, "new_replies": new_replies.get(follow.post_id, 0),
        "followed_at": follow.created_at,
    } for follow in follows]


async def new_reply_counts(user_id: str, follows: list[ThreadFollow]) -> dict[int, int]:
    """post id → comments by others newer than what the follower has seen (one grouped query)."""
    if not follows:
        return {}
    from tortoise.functions import Count

    from .models import Comment

    newer = Q(*[Q(post_id=follow.post_id, id__gt=follow.seen_comment_id) for follow in follows], join_type="OR")
    rows = await (Comment.filter(newer).filter(author_id__not=user_id).annotate(replies=Count("id"))
                  .group_by("post_id").values("post_id", "replies"))
    return {row["post_id"]: row["replies"] for row in rows}
