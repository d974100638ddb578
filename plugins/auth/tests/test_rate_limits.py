"""Rate limits per client IP: register 10/hour, login 20/15 min, forgot 5/hour (shared with its
alias), waitlist 5/hour; 429 with Retry-After and the envelope; COMMONLY_RATE_LIMITS=0 turns them off.

Refused bodies count like accepted ones (the limit is checked before validation), so these tests
send cheap invalid bodies instead of creating accounts.
"""

from __future__ import annotations

import pytest
from commonly_auth.models import WaitlistRequest

BAD_REGISTER = {"username": "x", "email": "nope", "password": "short"}


def assert_rate_limited(response, assert_error, max_seconds: int) -> None:
    assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= max_seconds


async def hit(client, path: str, body: dict, times: int, headers: dict | None = None) -> list[int]:
    return [(await client.post(path, json=body, headers=headers or {})).status_code for _ in range(times)]


async def test_register_allows_10_an_hour(client, assert_error):
    statuses = await hit(client, "/api/auth/register", BAD_REGISTER, 10)
    assert statuses == [400] * 10
    assert_rate_limited(await client.post("/api/auth/register", json=BAD_REGISTER), assert_error, 3600)
    # even a valid registration is refused now
    valid = {"username": "late", "email": "late@example.com", "password": "correct horse"}
    assert_rate_limited(await client.post("/api/auth/register", json=valid), assert_error, 3600)
    # other routes have their own buckets
    assert (await client.get("/api/auth/registration-policy")).status_code == 200
    assert (await client.post("/api/auth/login", json={})).status_code == 400


async def test_login_allows_20_per_15_minutes(client, make_user, assert_error):
    await make_user(username="alice")
    assert await hit(client, "/api/auth/login", {"email": "alice"}, 18) == [400] * 18
    wrong = {"email": "alice", "password": "wrong password"}
    assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
    right = {"email": "alice", "password": "correct horse"}
    assert (await client.post("/api/auth/login", json=right)).status_code == 200  # the 20th
    assert_rate_limited(await client.post("/api/auth/login", json=right), assert_error, 15 * 60)


async def test_forgot_allows_5_an_hour_shared_with_its_alias(client, assert_error):
    body = {"email": "nobody@example.com"}
    assert await hit(client, "/api/auth/forgot", body, 3) == [200] * 3
    assert await hit(client, "/api/auth/forgot-password", body, 2) == [200] * 2
    assert_rate_limited(await client.post("/api/auth/forgot", json=body), assert_error, 3600)
    assert_rate_limited(await client.post("/api/auth/forgot-password", json=body), assert_error, 3600)


async def test_waitlist_allows_5_an_hour(client, assert_error):
    statuses = [(await client.post("/api/auth/waitlist", json={"email": f"w{i}@example.com"})).status_code
                for i in range(5)]
    assert statuses == [201] * 5
    assert_rate_limited(await client.post("/api/auth/waitlist", json={"email": "w9@example.com"}), assert_error, 3600)
    assert await WaitlistRequest.all().count() == 5


async def test_a_spoofed_forwarded_for_header_does_not_reset_the_bucket(client, assert_error):
    body = {"email": "nobody@example.com"}
    for index in range(5):
        response = await client.post("/api/auth/forgot", json=body, headers={"X-Forwarded-For": f"10.0.0.{index}"})
        assert response.status_code == 200
    spoofed = await client.post("/api/auth/forgot", json=body, headers={"X-Forwarded-For": "10.9.9.9"})
    assert_rate_limited(spoofed, assert_error, 3600)


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_TRUST_PROXY": "1"}])
async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(client, assert_error):
    body = {"email": "nobody@example.com"}
    first = {"X-Forwarded-For": "203.0.113.1"}
    assert await hit(client, "/api/auth/forgot", body, 5, first) == [200] * 5
    assert_rate_limited(await client.post("/api/auth/forgot", json=body, headers=first), assert_error, 3600)
    other = {"X-Forwarded-For": "203.0.113.2"}
    assert (await client.post("/api/auth/forgot", json=body, headers=other)).status_code == 200


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_TRUST_PROXY": "1"}])
async def test_behind_a_trusted_proxy_the_client_cannot_choose_its_bucket(client, assert_error):
    body = {"email": "nobody@example.com"}
    for index in range(5):
        # what a proxy that appends the peer's address forwards for a client that sent its own header
        forwarded = {"X-Forwarded-For": f"10.0.0.{index}, 203.0.113.7"}
        assert (await client.post("/api/auth/forgot", json=body, headers=forwarded)).status_code == 200
    forwarded = {"X-Forwarded-For": "10.9.9.9, 203.0.113.7"}
    assert_rate_limited(await client.post("/api/auth/forgot", json=body, headers=forwarded), assert_error, 3600)


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_RATE_LIMITS": "0"}])
async def test_rate_limits_can_be_turned_off(client):
    assert await hit(client, "/api/auth/register", BAD_REGISTER, 12) == [400] * 12
    assert await hit(client, "/api/auth/forgot", {"email": "nobody@example.com"}, 7) == [200] * 7
    assert await hit(client, "/api/auth/waitlist", {"email": "same@example.com"}, 7) == [201] + [200] * 6
    assert await hit(client, "/api/auth/login", {"email": "nobody"}, 22) == [400] * 22
