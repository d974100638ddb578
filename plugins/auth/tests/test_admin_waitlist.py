"""Admin waitlist: list and filter, status changes, and send-invitation through a real SMTP
server — the mailed code then opens invite-only registration."""

from __future__ import annotations

import re

import pytest
from commonly_auth.models import Invitation, WaitlistRequest

FRONTEND = "https://app.commonly.test"
WAITLIST = "/api/admin/users/waitlist"
REQUEST_FIELDS = {"id", "_id", "email", "name", "organization", "useCase", "note", "status", "invitationId",
                  "invitedAt", "createdAt", "updatedAt"}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def commonly_settings(smtp_server):
    return {**smtp_server.settings, "FRONTEND_URL": FRONTEND, "REGISTRATION_INVITE_ONLY": "1"}


@pytest.fixture
async def admin(make_user):
    return await make_user(username="root", role="admin")


async def join(client, email: str, **details) -> str:
    response = await client.post("/api/auth/waitlist", json={"email": email, **details})
    assert response.status_code == 201, response.text
    return response.json()["requestId"]


async def test_list_filter_and_pages(client, admin, assert_error):
    empty = (await client.get(WAITLIST, headers=admin.headers)).json()
    assert empty == {"requests": [], "total": 0, "page": 1, "limit": 20, "totalPages": 1}
    first = await join(client, "ann@example.com", name="Ann", organization="Acme Labs", useCase="notes")
    second = await join(client, "ben@example.org", name="Ben")
    third = await join(client, "cy@acme.example", organization="Other")
    await WaitlistRequest.filter(id=second).update(status="closed")

    body = (await client.get(WAITLIST, headers=admin.headers)).json()
    assert set(body) == {"requests", "total", "page", "limit", "totalPages"}
    assert body["total"] == 3 and [item["id"] for item in body["requests"]] == [third, second, first]
    row = body["requests"][2]
    assert set(row) == REQUEST_FIELDS
    assert (row["email"], row["name"], row["organization"], row["useCase"], row["status"]) == (
        "ann@example.com", "Ann", "Acme Labs", "notes", "pending")
    assert row["_id"] == row["id"] and row["invitationId"] is None and row["invitedAt"] is None

    async def ids(**params):
        response = await client.get(WAITLIST, params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return sorted(item["id"] for item in response.json()["requests"])

    assert await ids(q="acme") == sorted([first, third])  # organization and email
    assert await ids(q="BEN") == [second]  # name or email, any case
    assert await ids(status="closed") == [second]
    assert await ids(status="pending") == sorted([first, third])
    assert await ids(status="pending", q="ann") == [first]
    assert await ids(status="invited") == []

    paged = (await client.get(WAITLIST, params={"page": 2, "limit": 2}, headers=admin.headers)).json()
    assert (paged["total"], paged["page"], paged["limit"], paged["totalPages"]) == (3, 2, 2, 2)
    assert [item["id"] for item in paged["requests"]] == [first]
    for params in ({"status": "maybe"}, {"page": 0}, {"limit": 1000}, {"limit": "x"}):
        assert_error(await client.get(WAITLIST, params=params, headers=admin.headers), 400, "validation_error")


async def test_set_status(client, admin, assert_error):
    request_id = await join(client, "ann@example.com")
    for status in ("closed", "invited", "pending"):
        response = await client.patch(f"{WAITLIST}/{request_id}", json={"status": status}, headers=admin.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"message", "request"} and body["request"]["status"] == status
        assert (await WaitlistRequest.get(id=request_id)).status == status
    for bad in ({"status": "approved"}, {}, {"status": "closed", "reason": "x"}):
        assert_error(await client.patch(f"{WAITLIST}/{request_id}", json=bad, headers=admin.headers), 400,
                     "validation_error")
    for request_id in (UNKNOWN, "bogus"):
        assert_error(await client.patch(f"{WAITLIST}/{request_id}", json={"status": "closed"}, headers=admin.headers),
                     404, "not_found")


async def test_send_invitation_creates_a_code_mails_it_and_marks_invited(client, admin, smtp_server, register,
                                                                          assert_error):
    request_id = await join(client, "Ann@Example.com", name="Ann")
    response = await client.post(f"{WAITLIST}/{request_id}/send-invitation", json={"maxUses": 1},
                                 headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "invitation", "request"}
    invitation, request = body["invitation"], body["request"]
    assert invitation["isActive"] is True and invitation["maxUses"] == 1 and invitation["createdBy"] == admin.id
    assert "ann@example.com" in (invitation["note"] or "")
    assert request["status"] == "invited" and request["invitationId"] == invitation["id"]
    assert request["invitedAt"] is not None
    stored = await WaitlistRequest.get(id=request_id)
    assert stored.status == "invited" and str(stored.invitation_id) == invitation["id"]

    [mail] = await smtp_server.wait_for_mail(1)
    assert mail.to == ["ann@example.com"]
    assert invitation["code"] in mail.body
    assert mail.link() == f"{FRONTEND}/register?invite={invitation['code']}"

    # the mailed code opens invite-only registration, once
    code = re.search(r"invite=(\S+)", mail.link()).group(1)
    assert (await register(client, "ann", "ann@example.com", invitationCode=code)).status_code == 201
    assert_error(await register(client, "ann2", "ann2@example.com", invitationCode=code), 403, "invitation_invalid")


async def test_send_invitation_reuses_an_invitation_by_id_or_code(client, admin, smtp_server):
    shared = (await client.post("/api/admin/users/invitations", json={"code": "SHARED-CODE", "maxUses": 10},
                                headers=admin.headers)).json()["invitation"]
    by_id = await join(client, "one@example.com")
    by_code = await join(client, "two@example.com")

    first = await client.post(f"{WAITLIST}/{by_id}/send-invitation", json={"invitationId": shared["id"]},
                              headers=admin.headers)
    second = await client.post(f"{WAITLIST}/{by_code}/send-invitation", json={"code": "shared-code"},
                               headers=admin.headers)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["invitation"]["id"] == second.json()["invitation"]["id"] == shared["id"]
    assert first.json()["request"]["invitationId"] == second.json()["request"]["invitationId"] == shared["id"]
    assert await Invitation.all().count() == 1

    mails = await smtp_server.wait_for_mail(2)
    assert sorted(mail.to[0] for mail in mails) == ["one@example.com", "two@example.com"]
    assert all("SHARED-CODE" in mail.body for mail in mails)


async def test_send_invitation_with_a_new_code_creates_it(client, admin, smtp_server):
    request_id = await join(client, "ann@example.com")
    response = await client.post(f"{WAITLIST}/{request_id}/send-invitation",
                                 json={"code": "for-ann", "maxUses": 2, "note": "hand picked"},
                                 headers=admin.headers)
    assert response.status_code == 200, response.text
    invitation = response.json()["invitation"]
    assert (invitation["code"], invitation["maxUses"], invitation["note"]) == ("FOR-ANN", 2, "hand picked")
    [mail] = await smtp_server.wait_for_mail(1)
    assert "FOR-ANN" in mail.body


async def test_send_invitation_errors(client, admin, smtp_server, assert_error, live_server):
    request_id = await join(client, "ann@example.com")
    revoked = (await client.post("/api/admin/users/invitations", json={"code": "OLD-CODE"},
                                 headers=admin.headers)).json()["invitation"]
    await client.post(f"/api/admin/users/invitations/{revoked['id']}/revoke", headers=admin.headers)

    url = f"{WAITLIST}/{request_id}/send-invitation"
    assert_error(await client.post(url, json={"invitationId": revoked["id"]}, headers=admin.headers), 400,
                 "invitation_inactive")
    assert_error(await client.post(url, json={"code": "old-code"}, headers=admin.headers), 400, "invitation_inactive")
    used_up = (await client.post("/api/admin/users/invitations", json={"code": "USED-UP"},
                                 headers=admin.headers)).json()["invitation"]
    registration = {"username": "early", "email": "early@example.com", "password": "correct horse",
                    "invitationCode": "USED-UP"}
    assert (await client.post("/api/auth/register", json=registration)).status_code == 201
    assert_error(await client.post(url, json={"invitationId": used_up["id"]}, headers=admin.headers), 400,
                 "invitation_inactive")
    assert_error(await client.post(url, json={"invitationId": UNKNOWN}, headers=admin.headers), 404, "not_found")
    assert_error(await client.post(url, json={"invitationId": "garbage"}, headers=admin.headers), 404, "not_found")
    assert_error(await client.post(url, json={"maxUses": 0}, headers=admin.headers), 400, "validation_error")
    assert_error(await client.post(url, json={"expiresAt": "2001-01-01T00:00:00Z"}, headers=admin.headers), 400,
                 "validation_error")
    for bad_request in (UNKNOWN, "nope"):
        assert_error(await client.post(f"{WAITLIST}/{bad_request}/send-invitation", json={}, headers=admin.headers),
                     404, "not_found")
    await live_server.app.kernel.drain()
    # the only mail is the early registrant's address confirmation: no invitation went out
    assert [mail.to for mail in smtp_server.received] == [["early@example.com"]]
    assert (await WaitlistRequest.get(id=request_id)).status == "pending"
    assert await Invitation.all().count() == 2
