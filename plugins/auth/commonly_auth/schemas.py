"""Request and response bodies of the auth plugin (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field, field_validator

from commonly_kernel import QueryArgs, RequestBody, WireModel

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
USERNAME_PATTERN = r"^[A-Za-z0-9_-]+$"
CODE_PATTERN = r"^[A-Za-z0-9_-]+$"


def _strong_enough(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"Password must be at least {MIN_PASSWORD} characters (6 is too weak).")
    return password


# -- users ---------------------------------------------------------------------------------------


class PublicUser(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    username: str
    role: Literal["user", "admin"]
    verified: bool
    banned: bool
    profile_picture: str
    bio: str
    interests: list[str]
    is_bot: bool
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime | None


class PrivateUser(PublicUser):
    """What the user and admins see: the public fields plus the email."""

    email: str


class RegisterIn(RequestBody):
    username: str = Field(min_length=2, max_length=50, pattern=USERNAME_PATTERN)
    email: EmailStr = Field(max_length=254)
    password: str = Field(max_length=MAX_PASSWORD)
    invitation_code: str | None = Field(default=None, max_length=64)

    _password = field_validator("password")(_strong_enough)


class RegisterOut(WireModel):
    message: str
    user: PrivateUser
    #: Absent (not null) while the email address awaits confirmation: the answer is ``{message, user}``.
    token: str | None = Field(default=None, exclude_if=lambda value: value is None)


class LoginIn(RequestBody):
    email: str = Field(min_length=1, max_length=254, description="An email address or a username.")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class LoginOut(WireModel):
    token: str
    user: PrivateUser


class RegistrationPolicy(WireModel):
    invite_only: bool
    invitation_required: bool
    has_invitation_codes: bool
    registration_open: bool


class ForgotIn(RequestBody):
    email: EmailStr = Field(max_length=254)


class ResetIn(RequestBody):
    password: str = Field(max_length=MAX_PASSWORD)

    _password = field_validator("password")(_strong_enough)


class ResetAliasIn(ResetIn):
    token: str = Field(min_length=1, max_length=200)


class VerifyQuery(QueryArgs):
    token: str = Field(min_length=1, max_length=200)


class UserMessageOut(WireModel):
    message: str
    user: PrivateUser


# -- waitlist ------------------------------------------------------------------------------------


class WaitlistIn(RequestBody):
    email: EmailStr = Field(max_length=254)
    name: str | None = Field(default=None, max_length=200)
    organization: str | None = Field(default=None, max_length=200)
    use_case: str | None = Field(default=None, max_length=5000)
    note: str | None = Field(default=None, max_length=5000)


class WaitlistOut(WireModel):
    message: str
    request_id: str


WaitlistStatus = Literal["pending", "invited", "closed"]


class WaitlistRequestOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    email: str
    name: str | None
    organization: str | None
    use_case: str | None
    note: str | None
    status: WaitlistStatus
    invitation_id: str | None
    invited_at: datetime | None
    created_at: datetime
    updated_at: datetime


# -- admin ---------------------------------------------------------------------------------------


class UserListQuery(QueryArgs):
    q: str | None = Field(default=None, max_length=200)
    role: Literal["user", "admin"] | None = None
    limit: int = Field(default=50, ge=1, le=100)
    before: str | None = Field(default=None, max_length=64, description="id of the last user already seen")


class UserListOut(WireModel):
    users: list[PrivateUser]
    total: int
    has_more: bool
    next_cursor: str | None


class RoleIn(RequestBody):
    role: Literal["user", "admin"]


class BanIn(RequestBody):
    banned: bool
    reason: str | None = Field(default=None, max_length=1000)


class PageQuery(QueryArgs):
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=100)


class InvitationOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    code: str
    note: str | None
    max_uses: int
    use_count: int
    is_active: bool
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    created_by: str | None


class InvitationIn(RequestBody):
    code: str | None = Field(default=None, min_length=4, max_length=64, pattern=CODE_PATTERN)
    note: str | None = Field(default=None, max_length=1000)
    max_uses: int = Field(default=1, ge=1, le=100_000)
    expires_at: datetime | None = Field(default=None, strict=False)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expiresAt needs a time zone (e.g. 2030-01-01T00:00:00Z).")
        return value


class InvitationMessageOut(WireModel):
    message: str
    invitation: InvitationOut


class InvitationPage(WireModel):
    invitations: list[InvitationOut]
    total: int
    page: int
    limit: int
    total_pages: int


class WaitlistQuery(PageQuery):
    q: str | None = Field(default=None, max_length=200)
    status: WaitlistStatus | None = None


class WaitlistPage(WireModel):
    requests: list[WaitlistRequestOut]
    total: int
    page: int
    limit: int
    total_pages: int


class WaitlistStatusIn(RequestBody):
    status: WaitlistStatus


class WaitlistMessageOut(WireModel):
    message: str
    request: WaitlistRequestOut


class SendInvitationIn(InvitationIn):
    invitation_id: str | None = Field(default=None, max_length=64)


class SendInvitationOut(WireModel):
    message: str
    invitation: InvitationOut
    request: WaitlistRequestOut


# -- from rows to bodies -------------------------------------------------------------------------


def public_user(user) -> PublicUser:  # type: ignore[no-untyped-def]
    return PublicUser.model_validate(_user_fields(user))


def private_user(user) -> PrivateUser:  # type: ignore[no-untyped-def]
    return PrivateUser.model_validate({**_user_fields(user), "email": user.email})


def _user_fields(user) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "id": str(user.id), "_id": str(user.id), "username": user.username, "role": user.role,
        "verified": user.verified, "banned": user.banned, "profile_picture": user.profile_picture,
        "bio": user.bio, "interests": list(user.interests or []), "is_bot": user.is_bot,
        "created_at": user.created_at, "updated_at": user.updated_at, "last_active_at": user.last_active_at,
    }


def invitation_out(invitation) -> InvitationOut:  # type: ignore[no-untyped-def]
    return InvitationOut.model_validate({
        "id": str(invitation.id), "_id": str(invitation.id), "code": invitation.code, "note": invitation.note,
        "max_uses": invitation.max_uses, "use_count": invitation.use_count, "is_active": invitation.is_active,
        "expires_at": invitation.expires_at, "last_used_at": invitation.last_used_at,
        "created_at": invitation.created_at,
        "created_by": str(invitation.created_by_id) if invitation.created_by_id else None,
    })


def waitlist_out(request) -> WaitlistRequestOut:  # type: ignore[no-untyped-def]
    return WaitlistRequestOut.model_validate({
        "id": str(request.id), "_id": str(request.id), "email": request.email, "name": request.name,
        "organization": request.organization, "use_case": request.use_case, "note": request.note,
        "status": request.status, "invitation_id": str(request.invitation_id) if request.invitation_id else None,
        "invited_at": request.invited_at, "created_at": request.created_at, "updated_at": request.updated_at,
    })
