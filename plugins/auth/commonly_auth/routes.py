"""HTTP routes of the auth plugin: thin wrappers over ``service`` and ``admin``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from quart import Blueprint
from quart_rate_limiter import rate_limit
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from commonly_kernel import MessageOut, current_actor, document_errors, kernel, require_actor

from . import admin, service
from .schemas import (
    BanIn,
    ForgotIn,
    InvitationIn,
    InvitationMessageOut,
    InvitationPage,
    LoginIn,
    LoginOut,
    PageQuery,
    PrivateUser,
    RegisterIn,
    RegisterOut,
    RegistrationPolicy,
    ResetAliasIn,
    ResetIn,
    RoleIn,
    SendInvitationIn,
    SendInvitationOut,
    UserListOut,
    UserListQuery,
    UserMessageOut,
    VerifyQuery,
    WaitlistIn,
    WaitlistMessageOut,
    WaitlistOut,
    WaitlistPage,
    WaitlistQuery,
    WaitlistStatusIn,
    invitation_out,
    private_user,
    waitlist_out,
)

blueprint = Blueprint("auth", __name__)
tag_blueprint(blueprint, ["auth"])

FORGOT_MESSAGE = "If an account exists for that email, a reset link is on its way."


# -- accounts ------------------------------------------------------------------------------------


@blueprint.post("/api/auth/register")
@rate_limit(10, timedelta(hours=1))
@document_errors(403, 409)
@validate_request(RegisterIn)
@validate_response(RegisterOut, 201)
async def register(data: RegisterIn) -> tuple[RegisterOut, int]:
    """Create an account. The first account becomes an administrator."""
    user, token = await service.register(kernel(), username=data.username, email=str(data.email),
                                         password=data.password, invitation_code=data.invitation_code)
    message = "Registered." if token else "Registered; check your email to confirm your address."
    return RegisterOut(message=message, user=private_user(user), token=token), 201


@blueprint.get("/api/auth/registration-policy")
@validate_response(RegistrationPolicy)
async def registration_policy() -> RegistrationPolicy:
    """Whether sign-up needs an invitation code, and whether any code can be used now."""
    return RegistrationPolicy(**await service.registration_policy(service.config_for(kernel().settings)))


@blueprint.post("/api/auth/login")
@rate_limit(20, timedelta(minutes=15))
@document_errors(401, 403)
@validate_request(LoginIn)
@validate_response(LoginOut)
async def login(data: LoginIn) -> LoginOut:
    """Sign in with an email (or username) and password; returns a 7-day token."""
    user, token = await service.login(kernel(), data.email, data.password)
    return LoginOut(token=token, user=private_user(user))


@blueprint.get("/api/auth/user")
@require_actor(kind="user")
@validate_response(PrivateUser)
async def current_user() -> PrivateUser:
    """The signed-in user."""
    return private_user(current_actor().record)


@blueprint.post("/api/auth/forgot-password")  # the original web client's alias (registered second)
@blueprint.post("/api/auth/forgot")
@rate_limit(5, timedelta(hours=1))
@validate_request(ForgotIn)
@validate_response(MessageOut)
async def forgot_password(data: ForgotIn) -> MessageOut:
    """Mail a reset link if the account exists; the answer is the same either way."""
    app_kernel = kernel()
    app_kernel.spawn(service.request_password_reset(app_kernel, str(data.email)), name="mail:reset")
    return MessageOut(message=FORGOT_MESSAGE)


@blueprint.post("/api/auth/reset/<token>")
@validate_request(ResetIn)
@validate_response(MessageOut)
async def reset_password(token: str, data: ResetIn) -> MessageOut:
    """Choose a new password with the token from the reset mail (single use, one hour)."""
    await service.reset_password(kernel(), token, data.password)
    return MessageOut(message="Your password was changed; sign in with the new one.")


@blueprint.post("/api/auth/reset-password")
@validate_request(ResetAliasIn)
@validate_response(MessageOut)
async def reset_password_alias(data: ResetAliasIn) -> MessageOut:
    """The original web client's form of ``POST /api/auth/reset/:token``."""
    await service.reset_password(kernel(), data.token, data.password)
    return MessageOut(message="Your password was changed; sign in with the new one.")


@blueprint.get("/api/auth/verify-email")
@validate_querystring(VerifyQuery)
@validate_response(UserMessageOut)
async def verify_email(query_args: VerifyQuery) -> UserMessageOut:
    """Confirm an email address with the token from the verification mail."""
    user = await service.verify_email(kernel(), query_args.token)
    return UserMessageOut(message="Your email address is confirmed; you can sign in.", user=private_user(user))


@blueprint.post("/api/auth/waitlist")
@rate_limit(5, timedelta(hours=1))
@document_errors(409)
@validate_request(WaitlistIn)
@validate_response(WaitlistOut, 200)
@validate_response(WaitlistOut, 201)
async def join_waitlist(data: WaitlistIn) -> tuple[WaitlistOut, int]:
    """Ask for an invitation. 201 for a new request, 200 when one is already open."""
    request, created = await service.join_waitlist(
        str(data.email), name=data.name, organization=data.organization, use_case=data.use_case, note=data.note
    )
    message = "You are on the waitlist." if created else "You are already on the waitlist."
    return WaitlistOut(message=message, request_id=str(request.id)), 201 if created else 200


# -- admin: users --------------------------------------------------------------------------------


@blueprint.get("/api/admin/users")
@require_actor(role="admin")
@validate_querystring(UserListQuery)
@validate_response(UserListOut)
async def admin_list_users(query_args: UserListQuery) -> UserListOut:
    """Users, newest first; ``q`` matches username or email; cursor ``before``."""
    users, total, has_more = await admin.list_users(query_args.q, query_args.role, query_args.limit,
                                                    query_args.before)
    return UserListOut(users=[private_user(user) for user in users], total=total, has_more=has_more,
                       next_cursor=str(users[-1].id) if has_more else None)


@blueprint.patch("/api/admin/users/<uuid:user_id>/role")
@require_actor(role="admin")
@document_errors(404)
@validate_request(RoleIn)
@validate_response(UserMessageOut)
async def admin_change_role(user_id: uuid.UUID, data: RoleIn) -> UserMessageOut:
    """Make a user an administrator or take it back (not yourself, not the last admin)."""
    user = await admin.change_role(kernel(), current_actor(), user_id, data.role)
    return UserMessageOut(message=f"{user.username} is now {data.role}.", user=private_user(user))


@blueprint.delete("/api/admin/users/<uuid:user_id>")
@require_actor(role="admin")
@document_errors(400, 404)
@validate_response(MessageOut)
async def admin_delete_user(user_id: uuid.UUID) -> MessageOut:
    """Delete an account (not yourself, not the last admin, not a bot)."""
    await admin.delete_user(kernel(), current_actor(), user_id)
    return MessageOut(message="User deleted.")


@blueprint.patch("/api/admin/users/<uuid:user_id>/ban")
@require_actor(role="admin")
@document_errors(404)
@validate_request(BanIn)
@validate_response(UserMessageOut)
async def admin_ban_user(user_id: uuid.UUID, data: BanIn) -> UserMessageOut:
    """Ban or unban a user; a banned user's tokens stop working at once."""
    user = await admin.set_banned(kernel(), current_actor(), user_id, data.banned, data.reason)
    return UserMessageOut(message=f"{user.username} is {'banned' if data.banned else 'no longer banned'}.",
                          user=private_user(user))


# -- admin: invitations --------------------------------------------------------------------------


@blueprint.get("/api/admin/users/invitations")
@require_actor(role="admin")
@validate_querystring(PageQuery)
@validate_response(InvitationPage)
async def admin_list_invitations(query_args: PageQuery) -> InvitationPage:
    """Invitation codes, newest first."""
    items, total, pages = await admin.list_invitations(query_args.page, query_args.limit)
    return InvitationPage(invitations=[invitation_out(item) for item in items], total=total,
                          page=query_args.page, limit=query_args.limit, total_pages=pages)


@blueprint.post("/api/admin/users/invitations")
@require_actor(role="admin")
@document_errors(409)
@validate_request(InvitationIn)
@validate_response(InvitationMessageOut, 201)
async def admin_create_invitation(data: InvitationIn) -> tuple[InvitationMessageOut, int]:
    """Create an invitation code (upper-cased; generated when absent)."""
    invitation = await admin.create_invitation(current_actor(), data.code, data.note, data.max_uses,
                                               data.expires_at)
    return InvitationMessageOut(message="Invitation created.", invitation=invitation_out(invitation)), 201


@blueprint.post("/api/admin/users/invitations/<uuid:invitation_id>/revoke")
@require_actor(role="admin")
@document_errors(404)
@validate_response(InvitationMessageOut)
async def admin_revoke_invitation(invitation_id: uuid.UUID) -> InvitationMessageOut:
    """Revoke an invitation code; it stops working at once."""
    invitation = await admin.revoke_invitation(invitation_id)
    return InvitationMessageOut(message="Invitation revoked.", invitation=invitation_out(invitation))


# -- admin: waitlist -----------------------------------------------------------------------------


@blueprint.get("/api/admin/users/waitlist")
@require_actor(role="admin")
@validate_querystring(WaitlistQuery)
@validate_response(WaitlistPage)
async def admin_list_waitlist(query_args: WaitlistQuery) -> WaitlistPage:
    """Waitlist requests, newest first; ``q`` matches email, name or organization."""
    items, total, pages = await admin.list_waitlist(query_args.q, query_args.status, query_args.page,
                                                    query_args.limit)
    return WaitlistPage(requests=[waitlist_out(item) for item in items], total=total, page=query_args.page,
                        limit=query_args.limit, total_pages=pages)


@blueprint.patch("/api/admin/users/waitlist/<uuid:request_id>")
@require_actor(role="admin")
@document_errors(404)
@validate_request(WaitlistStatusIn)
@validate_response(WaitlistMessageOut)
async def admin_set_waitlist_status(request_id: uuid.UUID, data: WaitlistStatusIn) -> WaitlistMessageOut:
    """Set a request's status (pending, invited, closed)."""
    request = await admin.set_waitlist_status(request_id, data.status)
    return WaitlistMessageOut(message=f"Request marked {data.status}.", request=waitlist_out(request))


@blueprint.post("/api/admin/users/waitlist/<uuid:request_id>/send-invitation")
@require_actor(role="admin")
@document_errors(404, 409)
@validate_request(SendInvitationIn)
@validate_response(SendInvitationOut)
async def admin_send_invitation(request_id: uuid.UUID, data: SendInvitationIn) -> SendInvitationOut:
    """Mail an invitation code to a waitlisted address (reusing ``invitationId``/``code`` or
    creating one) and mark the request invited."""
    invitation, request = await admin.send_waitlist_invitation(
        kernel(), current_actor(), request_id, invitation_id=data.invitation_id, code=data.code,
        note=data.note, max_uses=data.max_uses, expires_at=data.expires_at,
    )
    return SendInvitationOut(message=f"Invitation sent to {request.email}.",
                             invitation=invitation_out(invitation), request=waitlist_out(request))
