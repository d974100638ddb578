"""POST /api/auth/waitlist: 201 new, 200 already waiting, 409 already registered."""

from __future__ import annotations

import uuid

import pytest
from commonly_auth.models import WaitlistRequest

WAITLIST = "/api/auth/waitlist"


async def test_new_request_is_201_with_its_id(client):
    response = await client.post(WAITLIST, json={
        "email": "Hopeful@Example.com", "name": "Hope", "organization": "Acme", "useCase": "team chat",
        "note": "please"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"message", "requestId"}
    # requestId is the waitlist request's id (not the X-Request-Id of the HTTP request)
    assert body["requestId"] != response.headers["X-Request-Id"]
    stored = await WaitlistRequest.get(id=uuid.UUID(body["requestId"]))
    assert stored.email == "hopeful@example.com"
    assert (stored.name, stored.organization, stored.use_case, stored.note) == ("Hope", "Acme", "team chat", "please")
    assert stored.status == "pending"


async def test_repeat_request_is_200_with_the_same_id(client):
    first = await client.post(WAITLIST, json={"email": "hopeful@example.com"})
    again = await client.post(WAITLIST, json={"email": "HOPEFUL@example.com", "name": "Hope again"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["requestId"] == first.json()["requestId"]
    assert again.json()["message"] != first.json()["message"]
    assert await WaitlistRequest.all().count() == 1


async def test_an_invited_request_still_counts_but_a_closed_one_does_not(client):
    first = (await client.post(WAITLIST, json={"email": "hopeful@example.com"})).json()["requestId"]
    await WaitlistRequest.filter(id=first).update(status="invited")
    again = await client.post(WAITLIST, json={"email": "hopeful@example.com"})
    assert again.status_code == 200 and again.json()["requestId"] == first
    await WaitlistRequest.filter(id=first).update(status="closed")
    fresh = await client.post(WAITLIST, json={"email": "hopeful@example.com"})
    assert fresh.status_code == 201 and fresh.json()["requestId"] != first


async def test_registered_email_is_409(client, make_user, assert_error):
    await make_user(username="member", email="member@example.com")
    assert_error(await client.post(WAITLIST, json={"email": "Member@Example.com"}), 409, "already_registered")
    assert await WaitlistRequest.all().count() == 0


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_RATE_LIMITS": "0"}])  # more than 10 (5) attempts
async def test_bad_waitlist_bodies_are_400(client, assert_error):
    for body in [
        {}, {"email": "nope"}, {"email": "a@example.com", "name": "x" * 201}, {"email": "a@example.com", "extra": 1},
        {"email": ["a@example.com"]}, {"email": "a@example.com", "useCase": 5},
    ]:
        assert_error(await client.post(WAITLIST, json=body), 400, "validation_error")
    assert await WaitlistRequest.all().count() == 0
