"""POST /api/auth/login: by email or username, one answer for every wrong credential."""

from __future__ import annotations

from datetime import timedelta

import jwt
from commonly_auth.models import User

from commonly_kernel.testing import TEST_JWT_SECRET

LOGIN = "/api/auth/login"


def without_request_id(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "requestId"}


async def test_login_by_email_returns_token_and_private_user(client, make_user, assert_no_secrets):
    alice = await make_user(username="alice", email="alice@example.com")
    response = await client.post(LOGIN, json={"email": "alice@example.com", "password": "correct horse"})
    assert response.status_code == 200, response.text
    assert_no_secrets(response)
    body = response.json()
    assert set(body) == {"token", "user"}
    assert body["user"]["id"] == alice.id and body["user"]["email"] == "alice@example.com"
    assert body["user"]["lastActiveAt"] is not None
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["token"], TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == alice.id
    lifetime = timedelta(seconds=claims["exp"] - claims["iat"])
    assert timedelta(days=7) - timedelta(seconds=1) < lifetime <= timedelta(days=7)
    me = await client.get("/api/auth/user", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"


async def test_login_accepts_email_or_username_in_any_case(client, make_user):
    alice = await make_user(username="Alice", email="alice@example.com")
    for identifier in ["ALICE@Example.com", " alice@example.com ", "alice", "ALICE", "Alice"]:
        response = await client.post(LOGIN, json={"email": identifier, "password": "correct horse"})
        assert response.status_code == 200, (identifier, response.text)
        assert response.json()["user"]["id"] == alice.id


async def test_wrong_password_and_unknown_account_are_indistinguishable(client, make_user, assert_error):
    await make_user(username="alice", email="alice@example.com")
    attempts = [
        {"email": "alice@example.com", "password": "wrong horse"},
        {"email": "nobody@example.com", "password": "correct horse"},
        {"email": "alice", "password": "wrong horse"},
        {"email": "nobody", "password": "correct horse"},
        {"email": "alice@example.com", "password": "correct horse "},
    ]
    bodies = []
    for attempt in attempts:
        response = await client.post(LOGIN, json=attempt)
        bodies.append(without_request_id(assert_error(response, 401, "invalid_credentials")))
    assert all(body == bodies[0] for body in bodies), bodies
    assert set(bodies[0]) == {"error", "message"}


async def test_unverified_account_is_403_email_not_verified(client, make_user, assert_error):
    await make_user(username="pending", verified=False)
    response = await client.post(LOGIN, json={"email": "pending@example.com", "password": "correct horse"})
    assert_error(response, 403, "email_not_verified")
    # ... but only with the right password: a wrong one is the usual 401
    response = await client.post(LOGIN, json={"email": "pending@example.com", "password": "not it at all"})
    assert_error(response, 401, "invalid_credentials")


async def test_banned_account_is_403_banned(client, make_user, assert_error):
    admin = await make_user(role="admin")
    mallory = await make_user(username="mallory")
    ban = await client.patch(f"/api/admin/users/{mallory.id}/ban", json={"banned": True, "reason": "spam"},
                             headers=admin.headers)
    assert ban.status_code == 200
    response = await client.post(LOGIN, json={"email": "mallory", "password": "correct horse"})
    assert_error(response, 403, "banned")
    response = await client.post(LOGIN, json={"email": "mallory", "password": "wrong password"})
    assert_error(response, 401, "invalid_credentials")
    await client.patch(f"/api/admin/users/{mallory.id}/ban", json={"banned": False}, headers=admin.headers)
    assert (await client.post(LOGIN, json={"email": "mallory", "password": "correct horse"})).status_code == 200


async def test_bot_accounts_cannot_sign_in_with_a_password(client, make_user, assert_error):
    await make_user(username="helperbot", is_bot=True)
    response = await client.post(LOGIN, json={"email": "helperbot", "password": "correct horse"})
    assert_error(response, 401, "invalid_credentials")


async def test_malformed_login_is_400(client, assert_error):
    for body in [
        {}, {"email": "a@example.com"}, {"password": "correct horse"}, {"email": "", "password": "x"},
        {"email": "a@example.com", "password": ""}, {"email": 5, "password": "correct horse"},
        {"email": "a@example.com", "password": "correct horse", "remember": True},
    ]:
        details = assert_error(await client.post(LOGIN, json=body), 400, "validation_error")["details"]
        assert details and all({"field", "message", "type"} <= set(item) for item in details), body


async def test_login_records_last_activity(client, make_user):
    user = await make_user(username="active")
    assert (await User.get(id=user.id)).last_active_at is None
    await client.post(LOGIN, json={"email": "active", "password": "correct horse"})
    assert (await User.get(id=user.id)).last_active_at is not None
