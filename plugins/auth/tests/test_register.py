"""POST /api/auth/register: accounts, the bootstrap admin, username/email/password rules."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest
from commonly_auth.models import User

from commonly_kernel.testing import TEST_JWT_SECRET, serve


async def test_register_returns_user_and_working_token(client, register):
    response = await register(client, "alice", "alice@example.com")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"message", "user", "token"}
    assert body["message"]
    user = body["user"]
    assert user["username"] == "alice"
    assert user["email"] == "alice@example.com"
    assert user["id"] == user["_id"]
    assert user["verified"] is True and user["banned"] is False and user["isBot"] is False
    assert user["createdAt"].endswith(("Z", "+00:00"))
    claims = jwt.decode(body["token"], TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == user["id"]
    me = await client.get("/api/auth/user", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_first_user_becomes_admin_and_later_ones_do_not(client, register):
    first = await register(client, "founder")
    second = await register(client, "joiner")
    assert first.json()["user"]["role"] == "admin"
    assert second.json()["user"]["role"] == "user"


async def test_admin_emails_setting_names_more_admins(make_app, register):
    app = make_app(COMMONLY_ADMIN_EMAILS="ops@example.com, Boss@Example.com")
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        founder = await register(http, "founder")
        plain = await register(http, "plain")
        boss = await register(http, "boss", "BOSS@example.com")
        ops = await register(http, "ops", "ops@example.com")
    assert founder.json()["user"]["role"] == "admin"
    assert plain.json()["user"]["role"] == "user"
    assert boss.json()["user"]["role"] == "admin"
    assert ops.json()["user"]["role"] == "admin"


async def test_valid_usernames(client, register):
    for index, username in enumerate(["ab", "A" * 50, "under_score", "dash-ed", "MiXeD123", "42"]):
        response = await register(client, username, f"someone{index}@example.com")
        assert response.status_code == 201, (username, response.text)
        assert response.json()["user"]["username"] == username


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_RATE_LIMITS": "0"}])  # more than 10 (5) attempts
async def test_invalid_usernames_are_400_with_details(client, register, assert_error):
    for username in ["a", "", "A" * 51, "with space", "dot.ted", "at@sign", "émile", "semi;colon", "slash/ed",
                     "tab\tbed", "new\nline"]:
        response = await register(client, username, "someone@example.com")
        body = assert_error(response, 400, "validation_error")
        assert [item["field"] for item in body["details"]] == ["username"], (username, body)
    assert await User.all().count() == 0


async def test_username_uniqueness_ignores_case(client, register, assert_error):
    assert (await register(client, "Alice", "one@example.com")).status_code == 201
    for name in ("alice", "ALICE", "Alice"):
        assert_error(await register(client, name, f"{name}-x@example.com"), 409, "username_taken")


async def test_email_is_stored_lower_case_and_unique_in_any_case(client, register, assert_error):
    response = await register(client, "bob", "Bob.Smith@Example.COM")
    assert response.status_code == 201
    assert response.json()["user"]["email"] == "bob.smith@example.com"
    assert (await User.get(username="bob")).email == "bob.smith@example.com"
    for email in ("bob.smith@example.com", "BOB.SMITH@EXAMPLE.COM"):
        assert_error(await register(client, "other", email), 409, "email_taken")


async def test_email_taken_is_reported_before_username_taken(client, register, assert_error):
    await register(client, "carol", "carol@example.com")
    assert_error(await register(client, "carol", "carol@example.com"), 409, "email_taken")
    assert_error(await register(client, "carol", "new@example.com"), 409, "username_taken")


async def test_short_password_is_400_and_says_6_is_too_weak(client, register, assert_error):
    for password in ["", "x", "123456", "seven77"]:
        body = assert_error(await register(client, "dave", password=password), 400, "validation_error")
        [detail] = body["details"]
        assert detail["field"] == "password"
        assert "8" in detail["message"] and "6 is too weak" in detail["message"], detail
    assert "seven77" not in str(body)  # the submitted value is never echoed
    assert await User.filter(username="dave").count() == 0


async def test_eight_character_password_is_enough(client, register):
    assert (await register(client, "erin", password="12345678")).status_code == 201


async def test_missing_field_is_400_naming_it(client, assert_error):
    for missing in ["username", "email", "password"]:
        body = {"username": "frank", "email": "frank@example.com", "password": "correct horse"}
        del body[missing]
        details = assert_error(await client.post("/api/auth/register", json=body), 400, "validation_error")["details"]
        assert [item["field"] for item in details] == [missing]


async def test_bad_email_is_400(client, register, assert_error):
    for email in ["not-an-email", "a@", "@b.com", "a b@c.com", "x@localhost", "", "a@b@c.com", "a@b.com" + "m" * 250]:
        body = assert_error(await register(client, "gina", email), 400, "validation_error")
        assert [item["field"] for item in body["details"]] == ["email"], (email, body)
    assert await User.all().count() == 0


async def test_unknown_and_wrong_typed_fields_are_400(client, assert_error):
    base = {"username": "hank", "email": "hank@example.com", "password": "correct horse"}
    body = assert_error(await client.post("/api/auth/register", json={**base, "role": "admin"}), 400,
                        "validation_error")
    assert [item["field"] for item in body["details"]] == ["role"]
    body = assert_error(await client.post("/api/auth/register", json={**base, "password": 12345678}), 400,
                        "validation_error")
    assert [item["field"] for item in body["details"]] == ["password"]
    assert await User.all().count() == 0


async def test_concurrent_registrations_of_one_username_give_one_account(make_app, register, assert_error):
    app = make_app(COMMONLY_RATE_LIMITS="0")
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        responses = await asyncio.gather(*(register(http, "Racer" if i % 2 else "racer", f"r{i}@example.com")
                                           for i in range(6)))
        count = await User.all().count()
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "username_taken")
    assert count == 1


async def test_concurrent_first_registrations_make_exactly_one_admin(make_app, register):
    """The bootstrap rule: the first account ever is the administrator — not several racing ones."""
    app = make_app(COMMONLY_RATE_LIMITS="0")
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        responses = await asyncio.gather(*(register(http, f"early{i}") for i in range(6)))
        admins = await User.filter(role="admin").count()
    assert [response.status_code for response in responses] == [201] * 6, [r.text for r in responses]
    assert admins == 1
