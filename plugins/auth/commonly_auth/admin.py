"""User administration for global admins: users, roles, bans, invitations, the waitlist."""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, Conflict, Kernel, NotFound, RuleRefused, ValidationFailed

from .mail import send_later
from .models import Invitation, User, WaitlistRequest
from .service import config_for, now, usable_invitations, user_changed

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes get read aloud and retyped


async def _user_or_404(user_id: uuid.UUID) -> User:
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def _is_last_admin(user: User) -> bool:
    """Call inside a transaction: the admins' rows stay locked until it ends, so two admins
    demoting or deleting each other at once are serialised and the second sees the first's
    change (SQLite serialises transactions anyway)."""
    if user.role != "admin":
        return False
    admins = await User.filter(role="admin").order_by("id").select_for_update().only("id")
    return [admin.id for admin in admins] == [user.id]


# -- users ---------------------------------------------------------------------------------------


async def list_users(q: str | None, role: str | None, limit: int, before: str | None
                     ) -> tuple[list[User], int, bool]:
    """Newest first; ``before`` is the id of the last user of the previous page."""
    query = User.all()
    if q:
        query = query.filter(Q(username__icontains=q) | Q(email__icontains=q))
    if role:
        query = query.filter(role=role)
    total = await query.count()
    if before:
        query = query.filter(await _older_than(before))
    users = await query.order_by("-created_at", "-id").limit(limit + 1)
    return users[:limit], total, len(users) > limit


async def _older_than(user_id: str) -> Q:
    try:
        cursor = await User.get_or_none(id=uuid.UUID(user_id))
    except ValueError:
        cursor = None
    if cursor is None:
        raise ValidationFailed("`before` is not the id of a user.",
                               details=[{"field": "before", "message": "unknown user id", "type": "invalid"}])
    return Q(created_at__lt=cursor.created_at) | (Q(created_at=cursor.created_at) & Q(id__lt=cursor.id))


async def change_role(kernel: Kernel, admin: Actor, user_id: uuid.UUID, role: str) -> User:
    user = await _user_or_404(user_id)
    if str(user.id) == admin.id:
        raise RuleRefused("You cannot change your own role.", code="cannot_change_own_role")
    async with in_transaction():
        if role == "user" and await _is_last_admin(user):
            raise RuleRefused("The last administrator cannot be demoted.", code="last_admin")
        user.role = role
        await user.save(update_fields=["role", "updated_at"])
    await user_changed(kernel, user.id)
    return user


async def delete_user(kernel: Kernel, admin: Actor, user_id: uuid.UUID) -> None:
    user = await _user_or_404(user_id)
    if str(user.id) == admin.id:
        raise RuleRefused("You cannot delete your own account here.", code="cannot_delete_self")
    if user.is_bot:
        raise RuleRefused("Bot accounts belong to installed agents; uninstall the agent instead.",
                          code="cannot_delete_bot")
    async with in_transaction():
        if await _is_last_admin(user):
            raise RuleRefused("The last administrator cannot be deleted.", code="last_admin")
        await user.delete()
    await user_changed(kernel, user_id)
    await kernel.hooks.user_deleted(str(user_id))


async def set_banned(kernel: Kernel, admin: Actor, user_id: uuid.UUID, banned: bool, reason: str | None) -> User:
    user = await _user_or_404(user_id)
    if str(user.id) == admin.id:
        raise RuleRefused("You cannot ban yourself.", code="cannot_ban_self")
    if user.is_bot:
        raise RuleRefused("Bot accounts cannot be banned; uninstall the agent instead.", code="cannot_ban_bot")
    if user.role == "admin" or not await _ban_unless_admin(user, banned, reason):
        await _user_or_404(user_id)  # deleted since it was read: 404 as for any missing user
        raise RuleRefused("Administrators cannot be banned; demote them first.", code="cannot_ban_admin")
    await user_changed(kernel, user.id)
    return user


async def _ban_unless_admin(user: User, banned: bool, reason: str | None) -> bool:
    """Set the ban in one conditional UPDATE, so the role is checked as the row is written: a
    promotion committed since ``user`` was read makes it change nothing (False)."""
    moment = now()
    reason = reason if banned else None
    if not await User.filter(id=user.id).exclude(role="admin").update(banned=banned, ban_reason=reason,
                                                                     updated_at=moment):
        return False
    user.banned, user.ban_reason, user.updated_at = banned, reason, moment
    return True


# -- invitations ---------------------------------------------------------------------------------


async def page_of(query: QuerySet, page: int, limit: int) -> tuple[list, int, int]:  # type: ignore[type-arg]
    """One page (newest first), the total and the number of pages."""
    total = await query.count()
    items = await query.order_by("-created_at", "-id").offset((page - 1) * limit).limit(limit)
    return items, total, max(1, math.ceil(total / limit))


async def list_invitations(page: int, limit: int) -> tuple[list[Invitation], int, int]:
    return await page_of(Invitation.all(), page, limit)


async def create_invitation(admin: Actor, code: str | None, note: str | None, max_uses: int,
                            expires_at: datetime | None) -> Invitation:
    if expires_at is not None and expires_at <= now():
        raise ValidationFailed("expiresAt must be in the future.",
                               details=[{"field": "expiresAt", "message": "in the past", "type": "invalid"}])
    code = code.upper() if code else _generate_code()
    try:
        return await Invitation.create(code=code, note=note, max_uses=max_uses, expires_at=expires_at,
                                       created_by_id=uuid.UUID(admin.id))
    except IntegrityError:
        raise Conflict(f"The invitation code {code} already exists.", code="invitation_exists") from None


def _generate_code() -> str:
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(3))


async def revoke_invitation(invitation_id: uuid.UUID) -> Invitation:
    invitation = await Invitation.get_or_none(id=invitation_id)
    if invitation is None:
        raise NotFound("No such invitation.")
    invitation.is_active = False
    await invitation.save(update_fields=["is_active"])
    return invitation


# -- waitlist ------------------------------------------------------------------------------------


async def list_waitlist(q: str | None, status: str | None, page: int, limit: int
                        ) -> tuple[list[WaitlistRequest], int, int]:
    query = WaitlistRequest.all()
    if q:
        query = query.filter(Q(email__icontains=q) | Q(name__icontains=q) | Q(organization__icontains=q))
    if status:
        query = query.filter(status=status)
    return await page_of(query, page, limit)


async def _request_or_404(request_id: uuid.UUID) -> WaitlistRequest:
    request = await WaitlistRequest.get_or_none(id=request_id)
    if request is None:
        raise NotFound("No such waitlist request.")
    return request


async def set_waitlist_status(request_id: uuid.UUID, status: str) -> WaitlistRequest:
    request = await _request_or_404(request_id)
    request.status = status
    await request.save(update_fields=["status", "updated_at"])
    return request


async def send_waitlist_invitation(
    kernel: Kernel, admin: Actor, request_id: uuid.UUID, *, invitation_id: str | None, code: str | None,
    note: str | None, max_uses: int, expires_at: datetime | None,
) -> tuple[Invitation, WaitlistRequest]:
    """Reuse the named invitation (by id or code) or create one, mail it, mark the request invited."""
    request = await _request_or_404(request_id)
    invitation = await _existing_invitation(invitation_id, code)
    if invitation is None:
        invitation = await create_invitation(admin, code, note or f"waitlist: {request.email}", max_uses, expires_at)
    config = config_for(kernel.settings)
    request.status, request.invitation_id, request.invited_at = "invited", invitation.id, now()
    await request.save(update_fields=["status", "invitation_id", "invited_at", "updated_at"])
    send_later(
        kernel, config, request.email, "Your invitation to Commonly",
        f"Hello{' ' + request.name if request.name else ''},\n\nyou are invited to Commonly. Register here "
        f"with the invitation code {invitation.code}:\n{config.frontend_url}/register?invite={invitation.code}\n",
    )
    return invitation, request


async def _existing_invitation(invitation_id: str | None, code: str | None) -> Invitation | None:
    if invitation_id:
        try:
            invitation = await Invitation.get_or_none(id=uuid.UUID(invitation_id))
        except ValueError:
            invitation = None
        if invitation is None:
            raise NotFound("No such invitation.")
    elif code:
        invitation = await Invitation.get_or_none(code=code.upper())
        if invitation is None:
            return None
    else:
        return None
    if not await usable_invitations().filter(id=invitation.id).exists():
        # Mailing a code that cannot be redeemed would only produce a failed registration.
        raise RuleRefused("That invitation is revoked, expired or used up; pick or create another.",
                          code="invitation_inactive")
    return invitation
