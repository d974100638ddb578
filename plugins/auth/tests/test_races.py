"""Requests that race each other over real HTTP: whichever commits first, the rules still hold."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from commonly_auth import admin as admin_service
from commonly_auth.models import OneTimeToken, User, WaitlistRequest

OLD, NEW = "old password 1", "new password 2"
#: Parameters far below the current ones: signing in with such a hash stores a new one (a rehash).
WEAK = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def commonly_settings() -> dict[str, str]:
    return {"COMMONLY_RATE_LIMITS": "0"}


async def reset_token_for(user) -> str:
    """A live reset token, as the mailed link carries it (stored hashed, like the plugin's)."""
    token = secrets.token_urlsafe(32)
    await OneTimeToken.create(user_id=user.id, purpose="reset", token_hash=hashlib.sha256(token.encode()).hexdigest(),
                              expires_at=datetime.now(UTC) + timedelta(hours=1))
    return token


async def login(client, user, password: str):
    return await client.post("/api/auth/login", json={"email": user.email, "password": password})


async def race_login_with_reset(client, user, *, login_after: float) -> None:
    """A reset to NEW and, ``login_after`` seconds later (while the reset hashes), a login with OLD;
    then only NEW signs in."""
    token = await reset_token_for(user)

    async def late_login():
        await asyncio.sleep(login_after)
        return await login(client, user, OLD)

    reset, racing_login = await asyncio.gather(
        client.post(f"/api/auth/reset/{token}", json={"password": NEW}), late_login())
    assert reset.status_code == 200, reset.text
    assert racing_login.status_code in (200, 401), racing_login.text  # either may have committed first
    with_old, with_new = await asyncio.gather(login(client, user, OLD), login(client, user, NEW))
    assert (with_old.status_code, with_new.status_code) == (401, 200), (with_old.text, with_new.text)


async def test_a_login_during_a_password_reset_does_not_restore_the_old_password(client, make_user):
    # The login reads the user while the reset hashes the new password and finishes its own
    # (slow) verify after the reset committed: it must not write the old hash back.
    user = await make_user(password=OLD)
    await race_login_with_reset(client, user, login_after=0.2)


async def test_a_rehash_at_login_during_a_password_reset_does_not_restore_the_old_password(client, make_user):
    # With an outdated hash the login verifies at once, then computes a new hash of OLD while the
    # reset stores NEW: the rehash must not replace the reset's hash.
    user = await make_user(password=OLD)
    await User.filter(id=user.id).update(password_hash=WEAK.hash(OLD))
    await race_login_with_reset(client, user, login_after=0.1)


async def test_a_rehash_at_login_is_stored(client, make_user):
    user = await make_user(password=OLD)
    await User.filter(id=user.id).update(password_hash=WEAK.hash(OLD))
    assert (await login(client, user, OLD)).status_code == 200
    stored = (await User.get(id=user.id)).password_hash
    assert not PasswordHasher().check_needs_rehash(stored) and PasswordHasher().verify(stored, OLD)


async def test_concurrent_waitlist_joins_of_one_email_make_one_request(client):
    for round_ in range(3):
        email = f"eager{round_}@example.com"
        responses = await asyncio.gather(*(client.post("/api/auth/waitlist", json={"email": email.upper() if i % 2
                                                                                      else email})
                                           for i in range(6)))
        assert sorted(response.status_code for response in responses) == [200] * 5 + [201], \
            [response.text for response in responses]
        assert len({response.json()["requestId"] for response in responses}) == 1
        assert await WaitlistRequest.filter(email=email).count() == 1


async def test_ban_racing_a_promotion_ends_as_one_order_or_the_other(client, make_user, assert_error):
    root = await make_user(role="admin")
    for _ in range(4):
        alice = await make_user()
        promoted, banned = await asyncio.gather(
            client.patch(f"/api/admin/users/{alice.id}/role", json={"role": "admin"}, headers=root.headers),
            client.patch(f"/api/admin/users/{alice.id}/ban", json={"banned": True}, headers=root.headers))
        assert promoted.status_code == 200, promoted.text
        record = await User.get(id=alice.id)
        assert record.role == "admin"
        if banned.status_code == 200:  # banned first, then promoted (no rule against promoting)
            assert record.banned and banned.json()["user"]["role"] == "user"
        else:  # promoted first: the ban is refused and nothing of it is written
            assert_error(banned, 400, "cannot_ban_admin")
            assert not record.banned and record.ban_reason is None


async def test_a_ban_is_not_written_over_a_promotion_made_since_the_user_was_read(make_user):
    alice = await make_user()
    read_before = await User.get(id=alice.id)
    await User.filter(id=alice.id).update(role="admin")  # a promotion commits in between
    assert not await admin_service._ban_unless_admin(read_before, True, "spam")
    record = await User.get(id=alice.id)
    assert (record.role, record.banned, record.ban_reason) == ("admin", False, None)
