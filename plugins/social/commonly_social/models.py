"""The social plugin's tables (app label ``social``).

Posts, comments and activities have integer ids (BIGINT, increasing): lists page by id, so a
cursor is one comparison on the primary key. Pods live in an optional plugin, so ``pod_id`` is a
plain column, not a foreign key.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Post(Model):
    id = fields.BigIntField(primary_key=True)
    author: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "auth.User", related_name=False, on_delete=fields.CASCADE
    )
    #: None: the global feed. Otherwise the pod (pods plugin) whose members alone see the post.
    pod_id = fields.UUIDField(null=True)
    content = fields.TextField()
    image = fields.CharField(max_length=2000, null=True)
    tags = fields.JSONField(default=list)
    #: ",tag1,tag2," lower-cased: tag filters and search are one LIKE on this column.
    tag_index = fields.TextField(default=",")
    category = fields.CharField(max_length=100, default="General")
    #: {type: user|pod|external, provider, externalId?, url?, author?, authorUrl?, channel?}
    source = fields.JSONField(default=dict)
    like_count = fields.IntField(default=0)
    #: Kept by the comment routes, so lists never count comments.
    comment_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "social"
        table = "social_post"
        indexes = (
            Index(fields=("pod_id", "id")),
            Index(fields=("author_id", "id")),
            Index(fields=("category", "id")),
        )


class PostLike(Model):
    id = fields.BigIntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "social.Post", related_name=False, on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation = fields.ForeignKeyField("auth.User", related_name=False, on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "social"
        table = "social_post_like"
        unique_together = (("user_id", "post_id"),)


class Comment(Model):
    id = fields.BigIntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "social.Post", related_name=False, on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "auth.User", related_name=False, on_delete=fields.CASCADE
    )
    text = fields.TextField()
    #: The comment this one answers (same post); not a foreign key, so deleting it keeps replies.
    reply_to = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "social"
        table = "social_comment"
        indexes = (Index(fields=("post_id", "id")),)


class ThreadFollow(Model):
    """Someone follows a post's thread: they hear of its comments."""

    id = fields.BigIntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "social.Post", related_name=False, on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation = fields.ForeignKeyField("auth.User", related_name=False, on_delete=fields.CASCADE)
    #: Comments with a larger id are new to this follower (``newReplies``); moved on when they read it.
    seen_comment_id = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "social"
        table = "social_thread_follow"
        unique_together = (("user_id", "post_id"),)
        indexes = (Index(fields=("post_id",)),)


class Follow(Model):
    """``follower`` follows ``followee`` (people following people)."""

    id = fields.BigIntField(primary_key=True)
    follower: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "auth.User", related_name=False, on_delete=fields.CASCADE
    )
    followee: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "auth.User", related_name=False, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "social"
        table = "social_follow"
        unique_together = (("follower_id", "followee_id"),)
        indexes = (Index(fields=("followee_id",)),)


class Activity(Model):
    """Something that happened, shown in the activity feed of whoever may see it."""

    id = fields.BigIntField(primary_key=True)
    type = fields.CharField(max_length=40)
    #: A user id, an agent instance id, or None for the system. Not a foreign key: agents act too.
    actor_id = fields.CharField(max_length=64, null=True)
    #: The user behind the actor (a person or a bot account), for "people I follow" and "not mine".
    actor_user_id = fields.UUIDField(null=True)
    actor_name = fields.CharField(max_length=200, default="")
    actor_type = fields.CharField(max_length=10, default="human")  # human | agent | system
    action = fields.CharField(max_length=200)
    content = fields.TextField(default="")
    pod_id = fields.UUIDField(null=True)
    #: {title, url}
    target = fields.JSONField(null=True)
    visibility = fields.CharField(max_length=10)  # public | pod | private
    #: The post (thread) and comment it is about, so deleting those deletes it too.
    post_id = fields.BigIntField(null=True)
    comment_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "social"
        table = "social_activity"
        indexes = (
            Index(fields=("pod_id", "id")),
            Index(fields=("actor_user_id", "id")),
            Index(fields=("post_id",)),
            Index(fields=("comment_id",)),
        )


class ActivityRecipient(Model):
    """A user an activity is addressed to, and why (``mention``, ``follow``, ``thread``, ...)."""

    id = fields.BigIntField(primary_key=True)
    activity: fields.ForeignKeyRelation[Activity] = fields.ForeignKeyField(
        "social.Activity", related_name=False, on_delete=fields.CASCADE
    )
    user_id = fields.UUIDField()
    reason = fields.CharField(max_length=20)

    class Meta:
        app = "social"
        table = "social_activity_recipient"
        unique_together = (("user_id", "activity_id"),)


class ActivityRead(Model):
    """One activity marked read by one user (``POST /api/activity/mark-read {activityId}``)."""

    id = fields.BigIntField(primary_key=True)
    activity: fields.ForeignKeyRelation[Activity] = fields.ForeignKeyField(
        "social.Activity", related_name=False, on_delete=fields.CASCADE
    )
    user_id = fields.UUIDField()

    class Meta:
        app = "social"
        table = "social_activity_read"
        unique_together = (("user_id", "activity_id"),)


class FeedState(Model):
    """Per user: everything up to ``last_viewed_at`` counts as read."""

    user_id = fields.UUIDField(primary_key=True)
    last_viewed_at = fields.DatetimeField(null=True)
    #: The newest activity id at ``last_viewed_at``: "older than lastViewedAt" as one id comparison.
    last_viewed_id = fields.BigIntField(default=0)

    class Meta:
        app = "social"
        table = "social_feed_state"
