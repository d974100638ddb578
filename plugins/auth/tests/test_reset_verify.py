"""Password reset and email verification, end to end through a real SMTP server (aiosmtpd):
the mailed link's token is what the routes take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from commonly_auth.models import OneTimeToken, User

FRONTEND = "https://app.commonly.test"
FORGOT_MESSAGE = "If an account exists for that email, a reset link is on its way."


@pytest.fixture
def commonly_settings(smtp_server):
    return {**smtp_server.settings, "FRONTEND_URL": FRONTEND}


@pytest.fixture
async def settle(live_server):
    """Wait until the app's background work (mail sending) is done."""
    return live_server.app.kernel.drain


async def login(client, identifier: str, password: str):
    return await client.post("/api/auth/login", json={"email": identifier, "password": password})


def reset_token_of(mail) -> str:
    link = mail.link()
    assert link.startswith(f"{FRONTEND}/reset-password/"), link
    return link.rsplit("/", 1)[1]


def verify_token_of(mail) -> str:
    link = mail.link()
    assert link.startswith(f"{FRONTEND}/verify-email?"), link
    return parse_qs(urlsplit(link).query)["token"][0]


async def test_forgot_answers_the_same_and_mails_only_known_accounts(client, make_user, smtp_server, settle):
    await make_user(username="alice", email="alice@example.com")
    await make_user(username="somebot", is_bot=True)
    known = await client.post("/api/auth/forgot", json={"email": "Alice@Example.com"})
    unknown = await client.post("/api/auth/forgot", json={"email": "nobody@example.com"})
    bot = await client.post("/api/auth/forgot", json={"email": "somebot@example.com"})
    for response in (known, unknown, bot):
        assert response.status_code == 200
        assert response.json() == {"message": FORGOT_MESSAGE}
    await settle()
    [mail] = await smtp_server.wait_for_mail(1)
    assert mail.to == ["alice@example.com"]
    assert "reset" in mail.subject.lower()
    reset_token_of(mail)
    assert len(smtp_server.received) == 1


async def test_reset_flow_changes_password_and_ends_old_sessions(client, make_user, smtp_server, assert_error):
    alice = await make_user(username="alice", password="old password")
    assert (await client.get("/api/auth/user", headers=alice.headers)).status_code == 200
    assert (await client.post("/api/auth/forgot", json={"email": alice.email})).status_code == 200
    [mail] = await smtp_server.wait_for_mail(1)
    token = reset_token_of(mail)

    response = await client.post(f"/api/auth/reset/{token}", json={"password": "brand new secret"})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"message"}

    assert_error(await login(client, "alice", "old password"), 401, "invalid_credentials")
    fresh = await login(client, "alice", "brand new secret")
    assert fresh.status_code == 200
    # the session from before the reset is dead; the new one works
    assert_error(await client.get("/api/auth/user", headers=alice.headers), 401)
    new_headers = {"Authorization": f"Bearer {fresh.json()['token']}"}
    assert (await client.get("/api/auth/user", headers=new_headers)).status_code == 200
    # single use
    again = await client.post(f"/api/auth/reset/{token}", json={"password": "another new one"})
    assert_error(again, 400, "invalid_token")
    assert (await login(client, "alice", "brand new secret")).status_code == 200


async def test_reset_token_expires_after_an_hour(client, make_user, smtp_server, assert_error):
    alice = await make_user(username="alice", password="old password")
    await client.post("/api/auth/forgot", json={"email": alice.email})
    [mail] = await smtp_server.wait_for_mail(1)
    token = reset_token_of(mail)
    record = await OneTimeToken.get(user_id=alice.id, purpose="reset")
    assert timedelta(minutes=59) < record.expires_at - record.created_at <= timedelta(hours=1, seconds=5)
    # an hour passes
    await OneTimeToken.filter(id=record.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_error(await client.post(f"/api/auth/reset/{token}", json={"password": "brand new secret"}), 400,
                 "invalid_token")
    assert (await login(client, "alice", "old password")).status_code == 200


async def test_a_password_change_kills_the_other_reset_tokens(client, make_user, smtp_server, assert_error):
    alice = await make_user(username="alice", password="old password")
    await client.post("/api/auth/forgot", json={"email": alice.email})
    await client.post("/api/auth/forgot", json={"email": alice.email})
    first, second = await smtp_server.wait_for_mail(2)
    first_token, second_token = reset_token_of(first), reset_token_of(second)
    assert first_token != second_token
    changed = await client.post(f"/api/auth/reset/{second_token}", json={"password": "second new one"})
    assert changed.status_code == 200
    assert_error(await client.post(f"/api/auth/reset/{first_token}", json={"password": "first new one"}), 400,
                 "invalid_token")
    assert (await login(client, "alice", "second new one")).status_code == 200


async def test_reset_refuses_bad_tokens_and_weak_passwords(client, make_user, smtp_server, assert_error):
    alice = await make_user(username="alice", password="old password")
    assert_error(await client.post("/api/auth/reset/not-a-real-token", json={"password": "brand new secret"}), 400,
                 "invalid_token")
    await client.post("/api/auth/forgot", json={"email": alice.email})
    [mail] = await smtp_server.wait_for_mail(1)
    token = reset_token_of(mail)
    body = assert_error(await client.post(f"/api/auth/reset/{token}", json={"password": "123456"}), 400,
                        "validation_error")
    assert "6 is too weak" in body["details"][0]["message"]
    assert_error(await client.post(f"/api/auth/reset/{token}", json={}), 400, "validation_error")
    # the refused attempts did not spend the token
    assert (await client.post(f"/api/auth/reset/{token}", json={"password": "brand new secret"})).status_code == 200


async def test_aliases_forgot_password_and_reset_password(client, make_user, smtp_server, assert_error, settle):
    alice = await make_user(username="alice", password="old password")
    known = await client.post("/api/auth/forgot-password", json={"email": alice.email})
    unknown = await client.post("/api/auth/forgot-password", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json() == {"message": FORGOT_MESSAGE}
    await settle()
    [mail] = await smtp_server.wait_for_mail(1)
    assert mail.to == [alice.email]
    token = reset_token_of(mail)
    body = assert_error(await client.post("/api/auth/reset-password", json={"token": token, "password": "short"}),
                        400, "validation_error")
    assert "6 is too weak" in body["details"][0]["message"]
    assert_error(await client.post("/api/auth/reset-password", json={"password": "brand new secret"}), 400,
                 "validation_error")
    response = await client.post("/api/auth/reset-password", json={"token": token, "password": "brand new secret"})
    assert response.status_code == 200 and set(response.json()) == {"message"}
    assert (await login(client, "alice", "brand new secret")).status_code == 200
    assert_error(await client.get("/api/auth/user", headers=alice.headers), 401)
    again = await client.post("/api/auth/reset-password", json={"token": token, "password": "third new one"})
    assert_error(again, 400, "invalid_token")


async def test_registration_with_smtp_needs_email_verification(client, register, smtp_server, assert_error):
    response = await register(client, "newbie", "Newbie@Example.com", password="newbie password")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"message", "user"}, body  # no token until the address is confirmed
    assert body["user"]["verified"] is False and body["user"]["email"] == "newbie@example.com"
    assert body["user"]["role"] == "admin"  # the first account, verified or not

    [mail] = await smtp_server.wait_for_mail(1)
    assert mail.to == ["newbie@example.com"]
    token = verify_token_of(mail)
    assert_error(await login(client, "newbie", "newbie password"), 403, "email_not_verified")

    verified = await client.get("/api/auth/verify-email", params={"token": token})
    assert verified.status_code == 200, verified.text
    assert set(verified.json()) == {"message", "user"}
    assert verified.json()["user"]["verified"] is True
    assert (await User.get(username="newbie")).verified is True

    signed_in = await login(client, "newbie@example.com", "newbie password")
    assert signed_in.status_code == 200
    assert_error(await client.get("/api/auth/verify-email", params={"token": token}), 400, "invalid_token")


async def test_verify_email_refuses_bad_missing_and_expired_tokens(client, register, smtp_server, assert_error):
    assert_error(await client.get("/api/auth/verify-email"), 400, "validation_error")
    assert_error(await client.get("/api/auth/verify-email", params={"token": ""}), 400, "validation_error")
    assert_error(await client.get("/api/auth/verify-email", params={"token": "made-up"}), 400, "invalid_token")
    await register(client, "late", password="late password")
    [mail] = await smtp_server.wait_for_mail(1)
    token = verify_token_of(mail)
    record = await OneTimeToken.get(purpose="verify")
    assert record.expires_at - record.created_at >= timedelta(hours=47)
    await OneTimeToken.filter(id=record.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert_error(await client.get("/api/auth/verify-email", params={"token": token}), 400, "invalid_token")
    assert_error(await login(client, "late", "late password"), 403, "email_not_verified")


async def test_reset_and_verify_tokens_are_not_interchangeable(client, register, make_user, smtp_server,
                                                                assert_error):
    await register(client, "newbie", password="newbie password")
    [verify_mail] = await smtp_server.wait_for_mail(1)
    verify_token = verify_token_of(verify_mail)
    alice = await make_user(username="alice", password="old password")
    await client.post("/api/auth/forgot", json={"email": alice.email})
    _, reset_mail = await smtp_server.wait_for_mail(2)
    reset_token = reset_token_of(reset_mail)
    assert_error(await client.post(f"/api/auth/reset/{verify_token}", json={"password": "hijacked pass"}), 400,
                 "invalid_token")
    assert_error(await client.get("/api/auth/verify-email", params={"token": reset_token}), 400, "invalid_token")
    assert (await client.get("/api/auth/verify-email", params={"token": verify_token})).status_code == 200
    assert (await client.post(f"/api/auth/reset/{reset_token}", json={"password": "new password"})).status_code == 200


async def test_forgot_refuses_a_malformed_email(client, assert_error):
    assert_error(await client.post("/api/auth/forgot", json={"email": "not an email"}), 400, "validation_error")
    assert_error(await client.post("/api/auth/forgot", json={}), 400, "validation_error")
