"""The auth plugin's tables (app label ``auth``). Other plugins relate to ``"auth.User"``."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.UUIDField(primary_key=True)
    username = fields.CharField(max_length=50, unique=True)
    #: Lower-cased username: "Alice" and "alice" are one name (mentions are case-insensitive).
    username_key = fields.CharField(max_length=50, unique=True)
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    role = fields.CharField(max_length=10, default="user", db_index=True)
    verified = fields.BooleanField(default=False)
    banned = fields.BooleanField(default=False)
    ban_reason = fields.TextField(null=True)
    profile_picture = fields.CharField(max_length=500, default="default")
    bio = fields.TextField(default="")
    interests = fields.JSONField(default=list)
    is_bot = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_active_at = fields.DatetimeField(null=True)
    #: Tokens issued before this moment stop working (a password reset signs everyone out).
    password_changed_at = fields.DatetimeField(null=True)

    class Meta:
        app = "auth"
        table = "auth_user"


class OneTimeToken(Model):
    """A password-reset or email-verification token; only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "auth.User", related_name="one_time_tokens", on_delete=fields.CASCADE
    )
    purpose = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "auth"
        table = "auth_one_time_token"


class Invitation(Model):
    id = fields.UUIDField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    note = fields.TextField(null=True)
    max_uses = fields.IntField(default=1)
    use_count = fields.IntField(default=0)
    is_active = fields.BooleanField(default=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    created_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "auth.User", related_name=False, null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        app = "auth"
        table = "auth_invitation"


class WaitlistRequest(Model):
    id = fields.UUIDField(primary_key=True)
    email = fields.CharField(max_length=254, db_index=True)
    name = fields.CharField(max_length=200, null=True)
    organization = fields.CharField(max_length=200, null=True)
    use_case = fields.TextField(null=True)
    note = fields.TextField(null=True)
    status = fields.CharField(max_length=10, default="pending", db_index=True)
    invitation: fields.ForeignKeyNullableRelation[Invitation] = fields.ForeignKeyField(
        "auth.Invitation", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    invited_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "auth"
        table = "auth_waitlist_request"
