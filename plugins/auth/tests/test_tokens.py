"""Sessions: GET /api/auth/user, the token headers, and tokens that must stop working."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from commonly_auth import private_user, public_user
from commonly_auth.models import User

from commonly_kernel.testing import TEST_JWT_SECRET, serve

ME = "/api/auth/user"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def craft(sub: str, *, secret: str = TEST_JWT_SECRET, issued: datetime | None = None,
          lifetime: timedelta = timedelta(days=7), **extra) -> str:
    issued = issued or datetime.now(UTC)
    return jwt.encode({"sub": sub, "iat": issued, "exp": issued + lifetime, **extra}, secret, algorithm="HS256")


async def test_current_user_with_bearer_and_with_x_auth_token(client, make_user, assert_no_secrets):
    alice = await make_user(username="alice")
    for headers in (bearer(alice.token), {"x-auth-token": alice.token}, {"Authorization": f"bearer {alice.token}"}):
        response = await client.get(ME, headers=headers)
        assert response.status_code == 200, (headers, response.text)
        assert_no_secrets(response)
        body = response.json()
        assert body["id"] == body["_id"] == alice.id
        assert body["username"] == "alice" and body["email"] == "alice@example.com"
        assert body["role"] == "user"


async def test_current_user_needs_a_token(client, assert_error):
    assert_error(await client.get(ME), 401)
    assert_error(await client.get(ME, headers={"Authorization": "Bearer"}), 401)
    assert_error(await client.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert_error(await client.get(ME, headers={"x-auth-token": "not-a-jwt"}), 401)
    assert_error(await client.get(ME, headers=bearer("a.b.c")), 401)


async def test_a_crafted_valid_token_is_accepted(client, make_user):
    """The test secret signs tokens the server accepts (so the refusals below are meaningful)."""
    alice = await make_user()
    assert (await client.get(ME, headers=bearer(craft(alice.id)))).status_code == 200


async def test_expired_token_is_401(client, make_user, assert_error):
    alice = await make_user()
    expired = craft(alice.id, issued=datetime.now(UTC) - timedelta(days=8))
    assert_error(await client.get(ME, headers=bearer(expired)), 401, "token_expired")
    just_expired = craft(alice.id, issued=datetime.now(UTC) - timedelta(days=7, seconds=5))
    assert_error(await client.get(ME, headers={"x-auth-token": just_expired}), 401)


async def test_tampered_tokens_are_401(client, make_user, assert_error):
    alice = await make_user(username="alice")
    bob = await make_user(username="bob", role="admin")
    header, payload, signature = alice.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = bob.id  # claim to be the admin, keep alice's signature
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    none_token = jwt.encode({"sub": bob.id, "iat": datetime.now(UTC),
                             "exp": datetime.now(UTC) + timedelta(days=1)}, None, algorithm="none")
    tokens = {
        "forged payload": f"{header}.{forged_payload}.{signature}",
        "flipped signature": f"{header}.{payload}.{flipped}",
        "other secret": craft(bob.id, secret="another-secret-that-is-long-enough-for-hs256-xyz"),
        "alg none": none_token,
        "no exp": jwt.encode({"sub": bob.id, "iat": datetime.now(UTC)}, TEST_JWT_SECRET, algorithm="HS256"),
        "no sub": jwt.encode({"iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(days=1)},
                             TEST_JWT_SECRET, algorithm="HS256"),
        "sub not an id": craft("admin"),
        "unknown user": craft(str(uuid.uuid4())),
        "truncated": alice.token[:-10],
    }
    for name, token in tokens.items():
        response = await client.get(ME, headers=bearer(token))
        assert response.status_code == 401, name
        assert_error(response, 401)
        # and never admin access either
        assert_error(await client.get("/api/admin/users", headers=bearer(token)), 401)


async def test_banned_users_token_is_refused_at_once(client, make_user, assert_error):
    admin = await make_user(role="admin")
    mallory = await make_user(username="mallory")
    assert (await client.get(ME, headers=mallory.headers)).status_code == 200
    ban = await client.patch(f"/api/admin/users/{mallory.id}/ban", json={"banned": True}, headers=admin.headers)
    assert ban.status_code == 200 and ban.json()["user"]["banned"] is True
    assert_error(await client.get(ME, headers=mallory.headers), 403, "banned")
    assert_error(await client.get(ME, headers={"x-auth-token": mallory.token}), 403, "banned")
    unban = await client.patch(f"/api/admin/users/{mallory.id}/ban", json={"banned": False}, headers=admin.headers)
    assert unban.status_code == 200 and unban.json()["user"]["banned"] is False
    assert (await client.get(ME, headers=mallory.headers)).status_code == 200


async def test_deleted_users_token_is_refused_at_once(client, make_user, assert_error):
    admin = await make_user(role="admin")
    gone = await make_user(username="gone")
    assert (await client.get(ME, headers=gone.headers)).status_code == 200
    deleted = await client.delete(f"/api/admin/users/{gone.id}", headers=admin.headers)
    assert deleted.status_code == 200
    assert_error(await client.get(ME, headers=gone.headers), 401)


async def test_admin_rights_follow_the_database_not_the_token(client, make_user, assert_error):
    root = await make_user(role="admin")
    deputy = await make_user(role="admin")
    assert (await client.get("/api/admin/users", headers=deputy.headers)).status_code == 200
    demoted = await client.patch(f"/api/admin/users/{deputy.id}/role", json={"role": "user"}, headers=root.headers)
    assert demoted.status_code == 200
    assert_error(await client.get("/api/admin/users", headers=deputy.headers), 403)


async def test_public_view_hides_email_and_hash_private_view_shows_email(client, make_user):
    alice = await make_user(username="alice")
    record = await User.get(id=alice.id)
    public = public_user(record).model_dump(by_alias=True, mode="json")
    private = private_user(record).model_dump(by_alias=True, mode="json")
    assert "email" not in public and private["email"] == "alice@example.com"
    for view in (public, private):
        assert view["_id"] == view["id"] == alice.id
        assert not {"passwordHash", "password_hash", "password", "token"} & set(view)
        assert "$argon2" not in json.dumps(view)
    assert set(private) - set(public) == {"email"}


async def test_admin_sees_other_users_email(client, make_user):
    admin = await make_user(role="admin")
    await make_user(username="carol", email="carol@example.com")
    users = (await client.get("/api/admin/users", headers=admin.headers)).json()["users"]
    assert {"carol@example.com"} <= {user["email"] for user in users}


@pytest.mark.parametrize("commonly_settings", [{"JWT_SECRET": ""}])
async def test_development_secret_survives_restarts(app, make_app, tmp_path):
    """Without JWT_SECRET, development generates one in the data folder (0600) and keeps it,
    so a restarted server accepts the sessions it issued before."""
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        registered = await http.post("/api/auth/register", json={
            "username": "keeper", "email": "keeper@example.com", "password": "correct horse"})
        assert registered.status_code == 201
        token = registered.json()["token"]
    secret_file = tmp_path / "data" / "jwt_secret"
    assert secret_file.exists()
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret.encode()) >= 32
    assert jwt.decode(token, secret, algorithms=["HS256"])["sub"] == registered.json()["user"]["id"]
    async with serve(make_app()) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get(ME, headers=bearer(token))).status_code == 200


async def test_a_change_announced_by_another_process_evicts_the_cached_user(client, make_user, live_server,
                                                                             assert_error):
    from commonly_auth.cache import USER_CHANGED

    mallory = await make_user(username="mallory")
    assert (await client.get(ME, headers=mallory.headers)).status_code == 200  # now cached here
    await User.filter(id=mallory.id).update(banned=True)  # what another process's ban writes...
    await live_server.app.kernel.broadcast.publish(USER_CHANGED, mallory.id)  # ...and announces
    assert_error(await client.get(ME, headers=mallory.headers), 403, "banned")


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_AUTH_CACHE_SECONDS": "0"}])
async def test_without_the_user_cache_every_request_reads_the_database(client, make_user, assert_error):
    mallory = await make_user(username="mallory")
    assert (await client.get(ME, headers=mallory.headers)).status_code == 200
    await User.filter(id=mallory.id).update(banned=True)  # behind the plugin's back, unannounced
    assert_error(await client.get(ME, headers=mallory.headers), 403, "banned")
