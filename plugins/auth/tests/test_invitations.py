"""Admin invitation codes: list pages, create (upper-case, generated, bounds), revoke."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from commonly_auth.models import Invitation

INVITATIONS = "/api/admin/users/invitations"
INVITATION_FIELDS = {"id", "_id", "code", "note", "maxUses", "useCount", "isActive", "expiresAt", "lastUsedAt",
                     "createdAt", "createdBy"}


@pytest.fixture
async def admin(make_user):
    return await make_user(username="root", role="admin")


async def create(client, admin, **body):
    return await client.post(INVITATIONS, json=body, headers=admin.headers)


async def test_create_upper_cases_the_code_and_fills_every_field(client, admin):
    expires = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    response = await create(client, admin, code="welcome-2030", note="for the team", maxUses=5,
                            expiresAt=expires.isoformat().replace("+00:00", "Z"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"message", "invitation"}
    invitation = body["invitation"]
    assert set(invitation) == INVITATION_FIELDS
    assert invitation["id"] == invitation["_id"]
    assert invitation["code"] == "WELCOME-2030"
    assert invitation["note"] == "for the team"
    assert (invitation["maxUses"], invitation["useCount"], invitation["isActive"]) == (5, 0, True)
    assert datetime.fromisoformat(invitation["expiresAt"]) == expires
    assert invitation["lastUsedAt"] is None
    assert invitation["createdBy"] == admin.id
    assert (await Invitation.get(id=invitation["id"])).code == "WELCOME-2030"


async def test_create_generates_a_code_and_defaults_to_one_use(client, admin):
    first = (await create(client, admin)).json()["invitation"]
    second = (await create(client, admin, note="another")).json()["invitation"]
    for invitation in (first, second):
        assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", invitation["code"])
        assert invitation["maxUses"] == 1 and invitation["expiresAt"] is None
    assert first["code"] != second["code"]
    assert first["note"] is None and second["note"] == "another"


async def test_duplicate_code_is_409_in_any_case(client, admin, assert_error):
    assert (await create(client, admin, code="ONLY-ONCE")).status_code == 201
    assert_error(await create(client, admin, code="only-once"), 409, "invitation_exists")
    assert_error(await create(client, admin, code="ONLY-ONCE"), 409, "invitation_exists")
    assert await Invitation.all().count() == 1


async def test_max_uses_bounds(client, admin, assert_error):
    assert (await create(client, admin, code="ONE-USE", maxUses=1)).status_code == 201
    assert (await create(client, admin, code="MANY-USES", maxUses=100_000)).status_code == 201
    for bad in (0, -1, 100_001, 1.5, "ten", None, [1], {}):
        body = assert_error(await create(client, admin, maxUses=bad), 400, "validation_error")
        assert [item["field"] for item in body["details"]] == ["maxUses"], (bad, body)
    assert await Invitation.all().count() == 2


async def test_expiry_must_be_future_and_zoned(client, admin, assert_error):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = assert_error(await create(client, admin, expiresAt=past), 400, "validation_error")
    assert body["details"][0]["field"] == "expiresAt"
    naive = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert_error(await create(client, admin, expiresAt=naive), 400, "validation_error")
    assert_error(await create(client, admin, expiresAt="next tuesday"), 400, "validation_error")
    assert await Invitation.all().count() == 0


async def test_bad_invitation_bodies_are_400(client, admin, assert_error):
    for body in [{"code": "abc"}, {"code": "has space"}, {"code": "ünïcode"}, {"code": "X" * 65}, {"code": 1234},
                 {"note": "x" * 1001}, {"uses": 3}]:
        details = assert_error(await create(client, admin, **body), 400, "validation_error")["details"]
        assert [item["field"] for item in details] == list(body), (body, details)
    assert await Invitation.all().count() == 0


async def test_list_pages(client, admin, assert_error):
    empty = (await client.get(INVITATIONS, headers=admin.headers)).json()
    assert empty == {"invitations": [], "total": 0, "page": 1, "limit": 20, "totalPages": 1}
    codes = [f"CODE-{index}" for index in range(5)]
    for code in codes:
        assert (await create(client, admin, code=code)).status_code == 201
    body = (await client.get(INVITATIONS, headers=admin.headers)).json()
    assert set(body) == {"invitations", "total", "page", "limit", "totalPages"}
    assert (body["total"], body["page"], body["limit"], body["totalPages"]) == (5, 1, 20, 1)
    assert [item["code"] for item in body["invitations"]] == codes[::-1]  # newest first
    assert all(set(item) == INVITATION_FIELDS for item in body["invitations"])

    pages = []
    for page in (1, 2, 3):
        body = (await client.get(INVITATIONS, params={"page": page, "limit": 2}, headers=admin.headers)).json()
        assert (body["total"], body["page"], body["limit"], body["totalPages"]) == (5, page, 2, 3)
        pages.append([item["code"] for item in body["invitations"]])
    assert pages == [codes[4:2:-1], codes[2:0:-1], codes[:1]]
    beyond = (await client.get(INVITATIONS, params={"page": 9, "limit": 2}, headers=admin.headers)).json()
    assert beyond["invitations"] == [] and beyond["totalPages"] == 3

    for params in ({"page": 0}, {"page": "one"}, {"limit": 0}, {"limit": 101}, {"limit": "abc"}):
        assert_error(await client.get(INVITATIONS, params=params, headers=admin.headers), 400, "validation_error")


async def test_revoke(client, admin, assert_error):
    invitation = (await create(client, admin, code="REVOKE-ME", maxUses=3)).json()["invitation"]
    response = await client.post(f"{INVITATIONS}/{invitation['id']}/revoke", headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "invitation"}
    assert body["invitation"]["isActive"] is False and body["invitation"]["code"] == "REVOKE-ME"
    assert (await Invitation.get(id=invitation["id"])).is_active is False
    # revoking again is harmless
    assert (await client.post(f"{INVITATIONS}/{invitation['id']}/revoke", headers=admin.headers)).status_code == 200
    for invitation_id in ("00000000-0000-4000-8000-000000000000", "not-an-id", "42"):
        assert_error(await client.post(f"{INVITATIONS}/{invitation_id}/revoke", headers=admin.headers), 404,
                     "not_found")
    # the revoked code cannot be recreated either (codes are unique for good)
    assert_error(await create(client, admin, code="revoke-me"), 409, "invitation_exists")
