"""The pods plugin's tables (app label ``pods``).

Messages and assets use integer ids: they order the cursors. Pods use UUIDs, so a private pod's
id cannot be guessed from a public one.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

POD_TYPES = ("chat", "study", "games", "agent-ensemble", "agent-admin")
JOIN_POLICIES = ("open", "invite-only")
POD_ROLES = ("admin", "member", "viewer")


class Pod(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    type = fields.CharField(max_length=20, default="chat", db_index=True)
    join_policy = fields.CharField(max_length=12, default="open", db_index=True)
    created_by = fields.ForeignKeyField("auth.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    #: Bumped in the transaction of every asset write: processes compare it to know their cached
    #: view of the pod's memory is stale (see ``memory.MemoryIndex``).
    memory_version = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "pods"
        table = "pods_pod"

    @property
    def is_private(self) -> bool:
        """Invite-only and agent-admin pods are hidden (404) from non-members."""
        return self.join_policy != "open" or self.type == "agent-admin"


class PodMember(Model):
    id = fields.IntField(primary_key=True)
    pod = fields.ForeignKeyField("pods.Pod", related_name="memberships", on_delete=fields.CASCADE)
    user = fields.ForeignKeyField("auth.User", related_name=False, on_delete=fields.CASCADE, db_index=True)
    role = fields.CharField(max_length=10, default="member")
    joined_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "pods"
        table = "pods_member"
        unique_together = (("pod", "user"),)


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    pod = fields.ForeignKeyField("pods.Pod", related_name=False, on_delete=fields.CASCADE, db_index=False)
    user = fields.ForeignKeyField("auth.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    content = fields.TextField()
    message_type = fields.CharField(max_length=20, default="text")
    attachments = fields.JSONField(default=list)
    reply_to_message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "pods"
        table = "pods_message"
        # Every read is "this pod's messages before/after an id": one index serves them all.
        indexes = (("pod_id", "id"),)


class IdempotencyKey(Model):
    """A client's ``Idempotency-Key`` for a message post, committed with the message itself."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.CharField(max_length=36)
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    message = fields.ForeignKeyField("pods.Message", related_name=False, on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        app = "pods"
        table = "pods_idempotency_key"
        unique_together = (("user_id", "key"),)


class PodAsset(Model):
    """Pod memory: summaries, skills, notes, daily logs, files, links...

    ``scope`` and ``agent_key`` repeat ``metadata.scope`` and the owning agent instance
    (``<agentName>:<instanceId>``) as columns, because every read filters on them.
    """

    id = fields.BigIntField(primary_key=True)
    pod = fields.ForeignKeyField("pods.Pod", related_name=False, on_delete=fields.CASCADE, db_index=False)
    type = fields.CharField(max_length=40)
    title = fields.CharField(max_length=300, default="")
    content = fields.TextField(default="")
    tags = fields.JSONField(default=list)
    source_type = fields.CharField(max_length=40, default="")
    source_ref = fields.CharField(max_length=500, default="")
    metadata = fields.JSONField(default=dict)
    scope = fields.CharField(max_length=8, default="pod")
    agent_key = fields.CharField(max_length=200, null=True)
    status = fields.CharField(max_length=10, default="active")
    created_by_type = fields.CharField(max_length=8, default="human")
    created_by = fields.ForeignKeyField("auth.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "pods"
        table = "pods_asset"
        indexes = (("pod_id", "status", "type"), ("pod_id", "id"))
