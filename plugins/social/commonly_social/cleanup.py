"""Dropping what the social plugin keeps for a deleted user or pod.

Posts, comments, likes and follows reference ``auth.User`` with ``ON DELETE CASCADE``; what is
keyed by a plain id column (activities, their recipients and read marks, feed state, pod posts)
is removed here.
"""

from __future__ import annotations

import uuid

from tortoise.transactions import in_transaction

from .models import Activity, ActivityRead, ActivityRecipient, FeedState, Post


async def forget_user(user_id: str) -> None:
    async with in_transaction():
        await Activity.filter(actor_user_id=user_id).delete()
        await ActivityRecipient.filter(user_id=user_id).delete()
        await ActivityRead.filter(user_id=user_id).delete()
        await FeedState.filter(user_id=user_id).delete()


async def forget_pod(pod_id: str) -> None:
    try:
        canonical = str(uuid.UUID(str(pod_id)))
    except ValueError:
        return
    async with in_transaction():
        await Activity.filter(pod_id=canonical).delete()
        await Post.filter(pod_id=canonical).delete()
