"""The registry's tables (app label ``registry``).

Agent events use integer ids: they order the queue and its cursors. Tokens are stored as SHA-256
digests only; the token itself is shown once, when it is issued.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

EVENT_STATUSES = ("pending", "claimed", "delivered", "failed")
INSTALL_STATUSES = ("active", "paused", "uninstalled")


class PublishedAgent(Model):
    """A ``community`` registry entry someone published (built-in and catalog entries live in memory)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    description = fields.TextField(default="")
    version = fields.CharField(max_length=60)
    manifest = fields.JSONField(default=dict)
    #: Every published version's manifest, by version.
    versions = fields.JSONField(default=dict)
    readme = fields.TextField(default="")
    categories = fields.JSONField(default=list)
    tags = fields.JSONField(default=list)
    icon_url = fields.CharField(max_length=500, default="")
    status = fields.CharField(max_length=12, default="active")
    owner = fields.ForeignKeyField("auth.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "registry"
        table = "registry_published_agent"


class Template(Model):
    """A private (its owner's) or public agent entry made from the templates route."""

    id = fields.IntField(primary_key=True)
    agent_name = fields.CharField(max_length=120, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    description = fields.TextField(default="")
    icon_url = fields.CharField(max_length=500, default="")
    visibility = fields.CharField(max_length=8, default="private")
    owner = fields.ForeignKeyField("auth.User", related_name=False, on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "registry"
        table = "registry_template"


class AgentIdentity(Model):
    """One ``(agentName, instanceId)``: its bot user is shared by every pod it is installed in."""

    id = fields.IntField(primary_key=True)
    agent_name = fields.CharField(max_length=120)
    instance_id = fields.CharField(max_length=80)
    user = fields.ForeignKeyField("auth.User", related_name=False, on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "registry"
        table = "registry_identity"
        unique_together = (("agent_name", "instance_id"),)


class Installation(Model):
    id = fields.UUIDField(primary_key=True)
    agent_name = fields.CharField(max_length=120)
    pod = fields.ForeignKeyField("pods.Pod", related_name=False, on_delete=fields.CASCADE)
    instance_id = fields.CharField(max_length=80, default="default")
    display_name = fields.CharField(max_length=200, default="")
    version = fields.CharField(max_length=60, default="")
    config = fields.JSONField(default=dict)
    scopes = fields.JSONField(default=list)
    status = fields.CharField(max_length=12, default="active", db_index=True)
    identity = fields.ForeignKeyField("registry.AgentIdentity", related_name="installations",
                                      on_delete=fields.CASCADE)
    installed_by = fields.ForeignKeyField("auth.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    #: Signs webhook deliveries (``X-Commonly-Signature``); never shown.
    webhook_secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "registry"
        table = "registry_installation"
        unique_together = (("agent_name", "pod", "instance_id"),)


class DirectPod(Model):
    """An agent-admin DM pod between an agent identity and one person."""

    id = fields.IntField(primary_key=True)
    identity = fields.ForeignKeyField("registry.AgentIdentity", related_name=False, on_delete=fields.CASCADE)
    user = fields.ForeignKeyField("auth.User", related_name=False, on_delete=fields.CASCADE)
    pod = fields.ForeignKeyField("pods.Pod", related_name=False, on_delete=fields.CASCADE, unique=True)

    class Meta:
        app = "registry"
        table = "registry_direct_pod"
        unique_together = (("identity", "user"),)


class RuntimeToken(Model):
    id = fields.IntField(primary_key=True)
    identity = fields.ForeignKeyField("registry.AgentIdentity", related_name=False, on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    label = fields.CharField(max_length=120, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        app = "registry"
        table = "registry_runtime_token"


class BotToken(Model):
    """The bot user token of an identity (one at a time); empty ``scopes`` = all."""

    id = fields.IntField(primary_key=True)
    identity = fields.OneToOneField("registry.AgentIdentity", related_name=False, on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    scopes = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        app = "registry"
        table = "registry_bot_token"


class AgentEvent(Model):
    id = fields.BigIntField(primary_key=True)
    agent_name = fields.CharField(max_length=120)
    instance_id = fields.CharField(max_length=80)
    pod = fields.ForeignKeyField("pods.Pod", related_name=False, null=True, on_delete=fields.CASCADE,
                                 db_index=False)
    type = fields.CharField(max_length=60)
    payload = fields.JSONField(default=dict)
    status = fields.CharField(max_length=10, default="pending")
    attempts = fields.IntField(default=0)
    #: Produced by an agent's own message: what the loop guard counts.
    from_agent = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    claimed_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    delivery = fields.JSONField(null=True)

    class Meta:
        app = "registry"
        table = "registry_agent_event"
        # The queue read: one identity's events in a status, oldest first.
        indexes = (("agent_name", "instance_id", "status", "id"), ("status", "claimed_at"))


class Gateway(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=120)
    slug = fields.CharField(max_length=80, unique=True)
    mode = fields.CharField(max_length=40, default="local")
    type = fields.CharField(max_length=40, default="openclaw")
    base_url = fields.CharField(max_length=500, default="")
    config_path = fields.CharField(max_length=500, default="")
    metadata = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "registry"
        table = "registry_gateway"
