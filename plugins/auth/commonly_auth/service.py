"""Accounts: registration, sign-in, tokens, password reset, email verification, waitlist.

Routes stay thin and call these; other plugins may call the public functions re-exported by
``commonly_auth`` (``get_user``, ``users_by_ids``, ``users_by_usernames``, ``create_bot_user``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from commonly_kernel import (
    Actor,
    Conflict,
    Forbidden,
    Kernel,
    Settings,
    Unauthorized,
    ValidationFailed,
    lock_until_commit,
)

from .cache import USER_CHANGED, UserCache
from .config import AuthConfig
from .mail import Mailer, send_later
from .models import Invitation, OneTimeToken, User, WaitlistRequest

RESET_TTL = timedelta(hours=1)
VERIFY_TTL = timedelta(hours=48)
LAST_ACTIVE_EVERY = timedelta(minutes=5)

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_dummy_hash: str | None = None
_states: WeakKeyDictionary[Settings, AuthState] = WeakKeyDictionary()


@dataclass
class AuthState:
    """What the plugin keeps per app: its parsed settings and the user cache."""

    config: AuthConfig
    users: UserCache


def state_for(settings: Settings) -> AuthState:
    """The plugin's state for an app's settings (made once per settings object)."""
    state = _states.get(settings)
    if state is None:
        config = AuthConfig.from_settings(settings)
        state = _states[settings] = AuthState(config, UserCache(config.user_cache_seconds))
    return state


def config_for(settings: Settings) -> AuthConfig:
    return state_for(settings).config


async def user_changed(kernel: Kernel, user_id: object) -> None:
    """Tell every process to forget its copy of this user (after any change to the row)."""
    await kernel.broadcast.publish(USER_CHANGED, str(user_id))


def now() -> datetime:
    return datetime.now(UTC)


# -- passwords and tokens ------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow (tens of ms): off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown account) spend the same time and say no."""
    global _dummy_hash
    if password_hash is None:
        _dummy_hash = _dummy_hash or await hash_password(secrets.token_hex(16))
        password_hash = _dummy_hash
        password = password + "\0"  # never matches the dummy
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(user: User, settings: Settings) -> str:
    """A session token (JWT) for ``user``, valid ``COMMONLY_TOKEN_DAYS`` (7) days."""
    config = config_for(settings)
    issued = now()
    # ``iat`` keeps its fraction of a second (a NumericDate may): a session issued just before a
    # password change, in the same second, must still count as older than the change.
    payload = {"sub": str(user.id), "iat": issued.timestamp(),
               "exp": issued + timedelta(days=config.token_days)}
    return jwt.encode(payload, config.jwt_secret, algorithm="HS256")


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("cm_")


async def actor_for_token(token: str, settings: Settings) -> Actor | None:
    """The ``commonly_actor_from_token`` answer for user JWTs (None for other token kinds)."""
    if not looks_like_jwt(token):
        return None
    state = state_for(settings)
    claims = _verified_claims(token, state.config.jwt_secret)
    if claims["exp"] <= now().timestamp():
        raise Unauthorized("The token has expired; sign in again.", code="token_expired")
    user = state.users.get(claims["sub"])
    if user is None:
        user = await User.get_or_none(id=uuid.UUID(claims["sub"]))
        if user is None:
            raise Unauthorized("The account no longer exists.", code="invalid_token")
        state.users.put(user)
    if user.password_changed_at is not None and claims["iat"] < user.password_changed_at.timestamp():
        raise Unauthorized("The password changed since this token was issued; sign in again.",
                           code="token_revoked")
    if user.banned:
        raise Forbidden("This account is banned.", code="banned")
    await _touch(user)
    return user_actor(user)


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str) -> dict[str, Any]:
    """Signature and shape checked once per token (a token is sent with every request); expiry
    is checked by the caller on every use. Invalid tokens raise and are not cached."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "iat", "exp"]})
        uuid.UUID(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired; sign in again.", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError, AttributeError):
        raise Unauthorized("The token is not valid.", code="invalid_token") from None
    return claims


def user_actor(user: User) -> Actor:
    return Actor(id=str(user.id), kind="user", role=user.role, username=user.username,  # type: ignore[arg-type]
                 is_bot=user.is_bot, record=user)


async def _touch(user: User) -> None:
    # At most one write per user every few minutes, not one per request.
    moment = now()
    if user.last_active_at is None or moment - user.last_active_at > LAST_ACTIVE_EVERY:
        await User.filter(id=user.id).update(last_active_at=moment)
        user.last_active_at = moment


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _new_one_time_token(user: User, purpose: str, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    await OneTimeToken.create(user=user, purpose=purpose, token_hash=_token_hash(token), expires_at=now() + ttl)
    return token


async def _take_one_time_token(token: str, purpose: str) -> User:
    """Mark a live token used (once: a conditional update) and return its user, or 400 (also when
    the account was deleted since the token was read)."""
    moment = now()
    record = await OneTimeToken.get_or_none(token_hash=_token_hash(token), purpose=purpose)
    if record is not None:
        taken = await OneTimeToken.filter(id=record.id, used_at__isnull=True, expires_at__gt=moment).update(
            used_at=moment
        )
        user = await User.get_or_none(id=record.user_id) if taken == 1 else None
        if user is not None:
            return user
    raise ValidationFailed("The link is invalid or has expired; ask for a new one.", code="invalid_token")


# -- registration --------------------------------------------------------------------------------


async def registration_policy(config: AuthConfig) -> dict[str, bool]:
    has_codes = bool(config.invite_codes) or await usable_invitations().exists()
    return {
        "invite_only": config.invite_only,
        "invitation_required": config.invite_only,
        "has_invitation_codes": has_codes,
        "registration_open": not config.invite_only or has_codes,
    }


def usable_invitations():  # type: ignore[no-untyped-def]
    """Invitations that can still be redeemed: the one statement of that rule (checks, the
    atomic redemption and the admin's reuse all filter through it)."""
    return Invitation.filter(
        Q(is_active=True) & Q(use_count__lt=F("max_uses")) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now()))
    )


async def register(
    kernel: Kernel, *, username: str, email: str, password: str, invitation_code: str | None
) -> tuple[User, str | None]:
    """Create an account; returns the user and a token (None while email verification is due)."""
    config = config_for(kernel.settings)
    code = (invitation_code or "").strip().upper() or None
    if code is None and config.invite_only:
        raise Forbidden("An invitation code is required to register.", code="invitation_required")
    # Codes from REGISTRATION_INVITE_CODES are reusable; any other is a database code to redeem.
    database_code = code if code is not None and code not in config.invite_codes else None
    if database_code is not None and not await usable_invitations().filter(code=database_code).exists():
        raise _invalid_invitation()
    email = email.lower()
    await _refuse_taken(email, username)
    password_hash = await hash_password(password)
    try:
        async with in_transaction() as transaction:
            if database_code is not None:
                await _redeem(database_code)
            first_user = await _no_account_yet(transaction)
            user = await User.create(
                username=username, username_key=username.lower(), email=email, password_hash=password_hash,
                role="admin" if first_user or email in config.admin_emails else "user",
                verified=not config.email_verification,
            )
    except IntegrityError:
        await _refuse_taken(email, username)  # lost a race for the name: say which one
        raise
    await kernel.hooks.user_created(user)
    if config.email_verification:
        token = await _new_one_time_token(user, "verify", VERIFY_TTL)
        send_later(
            kernel, config, user.email, "Confirm your Commonly account",
            f"Hello {user.username},\n\nconfirm your email address to start using Commonly:\n"
            f"{config.frontend_url}/verify-email?token={token}\n\nThe link works for 48 hours.\n",
        )
        return user, None
    return user, issue_token(user, kernel.settings)


async def _no_account_yet(transaction: BaseDBAsyncClient) -> bool:
    """Whether this registration is the first account ever (which makes it the administrator).
    Registrations racing for that seat take turns; once any account exists none needs to wait."""
    if await User.exists():
        return False
    await lock_until_commit(transaction, "commonly_auth.first-account")
    return not await User.exists()


async def _refuse_taken(email: str, username: str) -> None:
    if await User.exists(email=email):
        raise Conflict("An account with this email already exists.", code="email_taken")
    if await User.exists(username_key=username.lower()):
        raise Conflict("This username is taken.", code="username_taken")


async def _redeem(code: str) -> None:
    """Take one use of a database code: one conditional UPDATE, so two registrations can never
    both take its last use."""
    moment = now()
    taken = await usable_invitations().filter(code=code).update(
        use_count=F("use_count") + 1, last_used_at=moment
    )
    if taken != 1:
        raise _invalid_invitation()


def _invalid_invitation() -> Forbidden:
    return Forbidden("The invitation code is invalid, used up, expired or revoked.", code="invitation_invalid")


# -- sign-in -------------------------------------------------------------------------------------


async def login(kernel: Kernel, identifier: str, password: str) -> tuple[User, str]:
    """Check credentials; unknown account and wrong password are the same 401."""
    identifier = identifier.strip()
    if "@" in identifier:
        user = await User.get_or_none(email=identifier.lower())
    else:
        user = await User.get_or_none(username_key=identifier.lower())
    password_hash = user.password_hash if user is not None and not user.is_bot else None
    if user is None or not await verify_password(password_hash, password):
        raise Unauthorized("The email or password is wrong.", code="invalid_credentials")
    if user.banned:
        raise Forbidden("This account is banned.", code="banned")
    if not user.verified:
        raise Forbidden("Confirm your email address first; we sent you a link.", code="email_not_verified")
    # Write only what sign-in owns, and only while the hash is the one just verified: a password
    # reset that committed during the slow verify makes the old password wrong here too (writing
    # the whole row back would even restore the old hash).
    moment = now()
    if not await User.filter(id=user.id, password_hash=password_hash).update(last_active_at=moment):
        raise Unauthorized("The email or password is wrong.", code="invalid_credentials")
    user.last_active_at = moment
    if _hasher.check_needs_rehash(password_hash):
        await _rehash(user, password_hash, password)
    await user_changed(kernel, user.id)
    return user, issue_token(user, kernel.settings)


async def _rehash(user: User, old_hash: str, password: str) -> None:
    """Store ``password`` under the current argon2 parameters, unless the hash changed while it
    was computed (a reset then wins)."""
    new_hash = await hash_password(password)
    if await User.filter(id=user.id, password_hash=old_hash).update(password_hash=new_hash):
        user.password_hash = new_hash


# -- password reset and email verification -------------------------------------------------------


async def request_password_reset(kernel: Kernel, email: str) -> None:
    """Mail a reset link if the account exists. Runs in the background: the caller's answer and
    its timing are the same whether or not it does."""
    config = config_for(kernel.settings)
    user = await User.get_or_none(email=email.lower())
    if user is None or user.is_bot:
        return
    token = await _new_one_time_token(user, "reset", RESET_TTL)
    await Mailer(config).send(
        user.email, "Reset your Commonly password",
        f"Hello {user.username},\n\nsomeone (hopefully you) asked to reset your password. Choose a new "
        f"one here:\n{config.frontend_url}/reset-password/{token}\n\nThe link works for one hour, once. "
        "If you did not ask for it, ignore this mail.\n",
    )


async def reset_password(kernel: Kernel, token: str, password: str) -> User:
    """Set a new password with a reset token; the token and every other reset token of the user
    die, and so do the sessions issued before."""
    user = await _take_one_time_token(token, "reset")
    user.password_hash = await hash_password(password)
    user.password_changed_at = now()
    await user.save(update_fields=["password_hash", "password_changed_at", "updated_at"])
    await OneTimeToken.filter(user_id=user.id, purpose="reset").delete()
    await user_changed(kernel, user.id)
    return user


async def verify_email(kernel: Kernel, token: str) -> User:
    user = await _take_one_time_token(token, "verify")
    user.verified = True
    await user.save(update_fields=["verified", "updated_at"])
    await user_changed(kernel, user.id)
    return user


# -- waitlist ------------------------------------------------------------------------------------


async def join_waitlist(email: str, **details: str | None) -> tuple[WaitlistRequest, bool]:
    """Add a request (True) or return the open one for this email (False); 409 if registered."""
    email = email.lower()
    if await User.exists(email=email):
        raise Conflict("This email already has an account; sign in instead.", code="already_registered")
    # No unique index can say "one open request per email" (closed ones may repeat), so joins of
    # one address take turns; the second then finds the first one's request.
    async with in_transaction() as transaction:
        await lock_until_commit(transaction, f"commonly_auth.waitlist:{email}")
        existing = await WaitlistRequest.filter(email=email, status__in=["pending", "invited"]).first()
        if existing is not None:
            return existing, False
        return await WaitlistRequest.create(email=email, **details), True


# -- public API for other plugins ----------------------------------------------------------------


async def get_user(user_id: str | uuid.UUID) -> User | None:
    """A user by id (None for an unknown or malformed id)."""
    try:
        return await User.get_or_none(id=uuid.UUID(str(user_id)))
    except ValueError:
        return None


async def users_by_ids(user_ids: Iterable[str | uuid.UUID]) -> dict[str, User]:
    """Users by id in one query (for lists that show authors)."""
    ids = set()
    for user_id in user_ids:
        try:
            ids.add(uuid.UUID(str(user_id)))
        except ValueError:
            continue
    if not ids:
        return {}
    return {str(user.id): user for user in await User.filter(id__in=ids)}


async def cached_users_by_ids(user_ids: Iterable[str | uuid.UUID], settings: Settings) -> dict[str, User]:
    """``users_by_ids`` through this process's user cache (the one tokens use): lists that show
    the same few authors on every request read them once. Every change the auth plugin makes to a
    user evicts it in every process; ``COMMONLY_AUTH_CACHE_SECONDS`` bounds the rest."""
    cache = state_for(settings).users
    found: dict[str, User] = {}
    missing = []
    for user_id in {str(user_id) for user_id in user_ids}:
        user = cache.get(user_id)
        if user is None:
            missing.append(user_id)
        else:
            found[user_id] = user
    if missing:
        for user_id, user in (await users_by_ids(missing)).items():
            cache.put(user)
            found[user_id] = user
    return found


async def users_by_usernames(usernames: Iterable[str]) -> dict[str, User]:
    """Users by lower-cased username in one query (for @mentions)."""
    keys = {name.lower() for name in usernames}
    if not keys:
        return {}
    return {user.username_key: user for user in await User.filter(username_key__in=keys)}


async def create_bot_user(username: str, *, bio: str = "", profile_picture: str = "default") -> User:
    """A bot account for an agent identity: cannot sign in with a password, cannot be deleted
    or banned through the admin routes."""
    return await User.create(
        username=username, username_key=username.lower(), email=f"{username.lower()}@bots.commonly.invalid",
        password_hash="!", role="user", verified=True, is_bot=True, bio=bio, profile_picture=profile_picture,
    )
