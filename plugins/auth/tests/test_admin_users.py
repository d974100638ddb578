"""Global admin routes for users: who may call them, listing with filters and cursors, roles,
deletion, bans, and every guard."""

from __future__ import annotations

import asyncio
import uuid

from commonly_auth.models import Invitation, User

SOME_ID = "00000000-0000-4000-8000-000000000000"

#: (method, path, body) of every admin route; ``{id}`` is a user / invitation / request id.
ADMIN_ROUTES = [
    ("GET", "/api/admin/users", None),
    ("PATCH", "/api/admin/users/{id}/role", {"role": "admin"}),
    ("DELETE", "/api/admin/users/{id}", None),
    ("PATCH", "/api/admin/users/{id}/ban", {"banned": True}),
    ("GET", "/api/admin/users/invitations", None),
    ("POST", "/api/admin/users/invitations", {"code": "SNEAKY"}),
    ("POST", "/api/admin/users/invitations/{id}/revoke", None),
    ("GET", "/api/admin/users/waitlist", None),
    ("PATCH", "/api/admin/users/waitlist/{id}", {"status": "closed"}),
    ("POST", "/api/admin/users/waitlist/{id}/send-invitation", {}),
]


async def test_admin_routes_need_a_token_and_the_admin_role(client, make_user, assert_error):
    victim = await make_user(username="victim")
    regular = await make_user(username="regular")
    for method, path, body in ADMIN_ROUTES:
        url = path.format(id=victim.id)
        kwargs = {"json": body} if body is not None else {}
        anonymous = await client.request(method, url, **kwargs)
        assert anonymous.status_code == 401, (method, path)
        assert_error(anonymous, 401, "unauthorized")
        assert_error(await client.request(method, url, headers={"x-auth-token": "garbage"}, **kwargs), 401)
        refused = await client.request(method, url, headers=regular.headers, **kwargs)
        assert refused.status_code == 403, (method, path)
        assert_error(refused, 403, "admin_required")
    # nothing changed
    record = await User.get(id=victim.id)
    assert (record.role, record.banned) == ("user", False)
    assert await Invitation.all().count() == 0


async def test_non_admin_hears_403_before_any_validation(client, make_user, assert_error):
    regular = await make_user()
    response = await client.patch(f"/api/admin/users/{SOME_ID}/role", json={"role": "emperor"},
                                  headers=regular.headers)
    assert_error(response, 403)


# -- listing -------------------------------------------------------------------------------------


async def test_list_users_shape_and_private_fields(client, make_user, assert_no_secrets):
    admin = await make_user(username="root", role="admin")
    await make_user(username="alice", email="alice@example.com")
    response = await client.get("/api/admin/users", headers=admin.headers)
    assert response.status_code == 200
    assert_no_secrets(response)
    body = response.json()
    assert set(body) == {"users", "total", "hasMore", "nextCursor"}
    assert body["total"] == 2 and body["hasMore"] is False and body["nextCursor"] is None
    assert [user["username"] for user in body["users"]] == ["alice", "root"]  # newest first
    assert body["users"][0]["email"] == "alice@example.com"


async def test_list_users_filters_by_q_and_role(client, make_user):
    admin = await make_user(username="root", role="admin", email="root@corp.example")
    await make_user(username="alice", email="alice@example.com")
    await make_user(username="Malice", email="m@corp.example")
    await make_user(username="bob", email="bob@example.com", role="admin")

    async def names(**params):
        response = await client.get("/api/admin/users", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["users"])
        return sorted(user["username"] for user in body["users"])

    assert await names(q="alice") == ["Malice", "alice"]  # username, case-insensitive
    assert await names(q="ALICE") == ["Malice", "alice"]
    assert await names(q="corp.example") == ["Malice", "root"]  # email
    assert await names(role="admin") == ["bob", "root"]
    assert await names(role="user") == ["Malice", "alice"]
    assert await names(q="corp", role="admin") == ["root"]
    assert await names(q="nobody-matches") == []
    assert await names(unknownParam="ignored") == ["Malice", "alice", "bob", "root"]


async def test_list_users_cursor_pagination(client, make_user):
    admin = await make_user(username="root", role="admin")
    for index in range(4):
        await make_user(username=f"member{index}")
    expected = ["member3", "member2", "member1", "member0", "root"]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"before": cursor} if cursor else {})}
        body = (await client.get("/api/admin/users", params=params, headers=admin.headers)).json()
        pages += 1
        assert body["total"] == 5
        assert len(body["users"]) <= 2
        seen += [user["username"] for user in body["users"]]
        if not body["hasMore"]:
            assert body["nextCursor"] is None
            break
        assert body["nextCursor"] == body["users"][-1]["id"]
        cursor = body["nextCursor"]
    assert seen == expected
    assert pages == 3
    # limit defaults and bounds
    assert len((await client.get("/api/admin/users", headers=admin.headers)).json()["users"]) == 5
    body = (await client.get("/api/admin/users", params={"limit": 5}, headers=admin.headers)).json()
    assert body["hasMore"] is False and body["nextCursor"] is None


async def test_list_users_bad_query_is_400(client, make_user, assert_error):
    admin = await make_user(role="admin")
    for params in [{"limit": "abc"}, {"limit": 0}, {"limit": 101}, {"limit": -1}, {"role": "superuser"},
                   {"before": "not-an-id"}, {"before": SOME_ID}, {"q": "x" * 201}]:
        body = assert_error(await client.get("/api/admin/users", params=params, headers=admin.headers), 400)
        assert [item["field"] for item in body["details"]] == list(params), (params, body)


# -- roles ---------------------------------------------------------------------------------------


async def test_change_role_promotes_and_demotes(client, make_user, assert_error):
    admin = await make_user(username="root", role="admin")
    alice = await make_user(username="alice")
    response = await client.patch(f"/api/admin/users/{alice.id}/role", json={"role": "admin"}, headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "user"} and body["user"]["role"] == "admin" and body["user"]["id"] == alice.id
    assert (await client.get("/api/admin/users", headers=alice.headers)).status_code == 200
    response = await client.patch(f"/api/admin/users/{alice.id}/role", json={"role": "user"}, headers=admin.headers)
    assert response.status_code == 200 and response.json()["user"]["role"] == "user"
    assert (await User.get(id=alice.id)).role == "user"
    for bad in ({"role": "owner"}, {}, {"role": None}, {"role": "admin", "extra": True}):
        assert_error(await client.patch(f"/api/admin/users/{alice.id}/role", json=bad, headers=admin.headers), 400,
                     "validation_error")


async def test_cannot_change_own_role(client, make_user, assert_error):
    admin = await make_user(role="admin")
    await make_user(role="admin")  # not the last admin: the self rule alone refuses
    response = await client.patch(f"/api/admin/users/{admin.id}/role", json={"role": "user"}, headers=admin.headers)
    assert_error(response, 400, "cannot_change_own_role")
    assert (await User.get(id=admin.id)).role == "admin"


async def test_admins_demoting_each_other_at_once_keep_one_admin(client, make_user, assert_error):
    """The last-admin rule under a race: two admins demote each other concurrently; whatever the
    interleaving, one admin must remain (the loser hears 400 last_admin, or 403 once demoted)."""
    one = await make_user(username="one", role="admin")
    two = await make_user(username="two", role="admin")
    for _ in range(5):
        responses = await asyncio.gather(
            client.patch(f"/api/admin/users/{two.id}/role", json={"role": "user"}, headers=one.headers),
            client.patch(f"/api/admin/users/{one.id}/role", json={"role": "user"}, headers=two.headers),
        )
        assert await User.filter(role="admin").count() == 1, [response.text for response in responses]
        statuses = sorted(response.status_code for response in responses)
        assert statuses in ([200, 400], [200, 403]), [response.text for response in responses]
        loser = next(response for response in responses if response.status_code != 200)
        assert_error(loser, loser.status_code, "last_admin" if loser.status_code == 400 else "admin_required")
        # put the other admin back for the next round
        winner = one if (await User.get(id=one.id)).role == "admin" else two
        other = two if winner is one else one
        promoted = await client.patch(f"/api/admin/users/{other.id}/role", json={"role": "admin"},
                                      headers=winner.headers)
        assert promoted.status_code == 200


async def test_role_change_of_unknown_or_malformed_id_is_404(client, make_user, assert_error):
    admin = await make_user(role="admin")
    for user_id in (SOME_ID, "not-a-uuid", "12345", "1" * 40, "00000000-0000-4000-8000-00000000000g"):
        response = await client.patch(f"/api/admin/users/{user_id}/role", json={"role": "admin"},
                                      headers=admin.headers)
        assert_error(response, 404, "not_found")


# -- deletion ------------------------------------------------------------------------------------


async def test_delete_user(client, make_user, assert_error):
    admin = await make_user(role="admin")
    alice = await make_user(username="alice")
    response = await client.delete(f"/api/admin/users/{alice.id}", headers=admin.headers)
    assert response.status_code == 200 and set(response.json()) == {"message"}
    assert not await User.filter(id=alice.id).exists()
    assert_error(await client.delete(f"/api/admin/users/{alice.id}", headers=admin.headers), 404, "not_found")
    # the name and address are free again
    registered = await client.post("/api/auth/register", json={
        "username": "alice", "email": alice.email, "password": "correct horse"})
    assert registered.status_code == 201


async def test_delete_with_empty_json_content_type_is_not_malformed(client, make_user):
    admin = await make_user(role="admin")
    alice = await make_user(username="alice")
    response = await client.delete(f"/api/admin/users/{alice.id}",
                                   headers={**admin.headers, "Content-Type": "application/json"})
    assert response.status_code == 200


async def test_delete_guards(client, make_user, assert_error):
    admin = await make_user(role="admin")
    bot = await make_user(username="helperbot", is_bot=True)
    assert_error(await client.delete(f"/api/admin/users/{admin.id}", headers=admin.headers), 400, "cannot_delete_self")
    assert_error(await client.delete(f"/api/admin/users/{bot.id}", headers=admin.headers), 400, "cannot_delete_bot")
    for user_id in (SOME_ID, "not-a-uuid", "99999999999999999999999"):
        assert_error(await client.delete(f"/api/admin/users/{user_id}", headers=admin.headers), 404, "not_found")
    assert await User.filter(id__in=[admin.id, bot.id]).count() == 2


async def test_deleting_another_admin_is_allowed_while_one_remains(client, make_user):
    admin = await make_user(role="admin")
    other = await make_user(role="admin")
    created = await client.post("/api/admin/users/invitations", json={"code": "FROM-OTHER"}, headers=other.headers)
    assert created.json()["invitation"]["createdBy"] == other.id
    assert (await client.delete(f"/api/admin/users/{other.id}", headers=admin.headers)).status_code == 200
    assert await User.filter(role="admin").count() == 1
    # the invitation outlives its creator
    listed = (await client.get("/api/admin/users/invitations", headers=admin.headers)).json()["invitations"]
    assert [(item["code"], item["createdBy"]) for item in listed] == [("FROM-OTHER", None)]


async def test_admins_deleting_each_other_at_once_keep_one_admin(client, make_user):
    one = await make_user(username="one", role="admin")
    two = await make_user(username="two", role="admin")
    responses = await asyncio.gather(
        client.delete(f"/api/admin/users/{two.id}", headers=one.headers),
        client.delete(f"/api/admin/users/{one.id}", headers=two.headers),
    )
    assert await User.filter(role="admin").count() == 1, [response.text for response in responses]
    assert sorted(response.status_code for response in responses) in ([200, 400], [200, 401])


# -- bans ----------------------------------------------------------------------------------------


async def test_ban_and_unban(client, make_user, assert_error):
    admin = await make_user(role="admin")
    alice = await make_user(username="alice")
    response = await client.patch(f"/api/admin/users/{alice.id}/ban", json={"banned": True, "reason": "spam"},
                                  headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "user"} and body["user"]["banned"] is True
    assert (await User.get(id=alice.id)).ban_reason == "spam"
    listed = (await client.get("/api/admin/users", params={"q": "alice"}, headers=admin.headers)).json()
    assert listed["users"][0]["banned"] is True
    response = await client.patch(f"/api/admin/users/{alice.id}/ban", json={"banned": False}, headers=admin.headers)
    assert response.status_code == 200 and response.json()["user"]["banned"] is False
    assert (await User.get(id=alice.id)).ban_reason is None
    for bad in ({}, {"banned": "maybe"}, {"banned": True, "reason": "x" * 1001}, {"banned": True, "until": "never"}):
        assert_error(await client.patch(f"/api/admin/users/{alice.id}/ban", json=bad, headers=admin.headers), 400,
                     "validation_error")


async def test_ban_guards(client, make_user, assert_error):
    admin = await make_user(role="admin")
    other_admin = await make_user(role="admin")
    bot = await make_user(username="helperbot", is_bot=True)
    ban = {"banned": True}
    assert_error(await client.patch(f"/api/admin/users/{admin.id}/ban", json=ban, headers=admin.headers), 400,
                 "cannot_ban_self")
    assert_error(await client.patch(f"/api/admin/users/{bot.id}/ban", json=ban, headers=admin.headers), 400,
                 "cannot_ban_bot")
    assert_error(await client.patch(f"/api/admin/users/{other_admin.id}/ban", json=ban, headers=admin.headers), 400,
                 "cannot_ban_admin")
    assert_error(await client.patch(f"/api/admin/users/{SOME_ID}/ban", json=ban, headers=admin.headers), 404,
                 "not_found")
    assert_error(await client.patch("/api/admin/users/nope/ban", json=ban, headers=admin.headers), 404)
    assert not await User.filter(banned=True).exists()


async def test_wrong_method_on_admin_path_is_405(client, make_user, assert_error):
    admin = await make_user(role="admin")
    assert_error(await client.put(f"/api/admin/users/{uuid.uuid4()}/ban", json={}, headers=admin.headers), 405)
    assert_error(await client.get(f"/api/admin/users/{uuid.uuid4()}/role", headers=admin.headers), 405)
