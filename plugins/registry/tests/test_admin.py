"""Global admins: every installation (search, status, pages), removing one, revoking a runtime
token; agent runtime gateways."""

from __future__ import annotations

import pytest
from commonly_registry.models import Gateway, Installation, RuntimeToken

ADMIN = "/api/registry/admin/installations"
GATEWAYS = "/api/gateways"
MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def installed(client, make_user, make_pod, install):
    """root (global admin), alice, and five installations in two pods, oldest first."""
    root, alice = await make_user(role="admin"), await make_user()
    first, second = await make_pod(alice, name="First"), await make_pod(alice, name="Second")
    made = [
        await install(alice, first),
        await install(alice, first, displayName="Night Owl"),
        await install(alice, second, "summarizer", scopes=["messages:write", "summaries:read"]),
        await install(alice, second, "archivist", scopes=["memory:write"]),
        await install(alice, second),
    ]
    return root, alice, (first, second), made


async def admin_list(client, user, **params):
    response = await client.get(ADMIN, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_admin_lists_every_installation_newest_first(client, installed, assert_error):
    root, alice, (first, second), made = installed
    await client.patch(f"/api/registry/pods/{second['id']}/agents/archivist", json={"status": "paused"},
                       headers=alice.headers)
    await client.delete(f"/api/registry/agents/summarizer/pods/{second['id']}", headers=alice.headers)

    body = await admin_list(client, root)
    assert [item["id"] for item in body["installations"]] == [item["id"] for item in reversed(made)]
    assert (body["hasMore"], body["nextCursor"]) == (False, None)
    listed = body["installations"][-1]
    assert (listed["agentName"], listed["podId"], listed["botUsername"]) == ("helper", first["id"], "helper")

    def ids(body):
        return [(item["agentName"], item["instanceId"]) for item in body["installations"]]

    assert ids(await admin_list(client, root, q="SUMM")) == [("summarizer", "default")]
    assert ids(await admin_list(client, root, q="night owl")) == [("helper", "night-owl")]  # display name
    assert ids(await admin_list(client, root, q="night-owl")) == [("helper", "night-owl")]  # instance id
    assert ids(await admin_list(client, root, q="nobody")) == []
    assert ids(await admin_list(client, root, status="uninstalled")) == [("summarizer", "default")]
    assert ids(await admin_list(client, root, status="paused")) == [("archivist", "default")]
    assert len((await admin_list(client, root, status="active"))["installations"]) == 3
    assert ids(await admin_list(client, root, q="helper", status="active")) == [("helper", "default"),
                                                                                ("helper", "night-owl"),
                                                                                ("helper", "default")]

    # pages
    page = await admin_list(client, root, limit=2)
    assert [item["id"] for item in page["installations"]] == [made[4]["id"], made[3]["id"]]
    assert (page["hasMore"], page["nextCursor"]) == (True, made[3]["id"])
    page = await admin_list(client, root, limit=2, before=page["nextCursor"])
    assert [item["id"] for item in page["installations"]] == [made[2]["id"], made[1]["id"]]
    page = await admin_list(client, root, limit=2, before=page["nextCursor"])
    assert [item["id"] for item in page["installations"]] == [made[0]["id"]]
    assert (page["hasMore"], page["nextCursor"]) == (False, None)
    assert len((await admin_list(client, root, limit=0))["installations"]) == 1  # clamped
    assert len((await admin_list(client, root, limit=5000))["installations"]) == 5

    for params, field in [({"status": "gone"}, "status"), ({"limit": "many"}, "limit")]:
        body = assert_error(await client.get(ADMIN, params=params, headers=root.headers), 400, "validation_error")
        assert [item["field"] for item in body["details"]] == [field]
    for cursor in ("not-an-id", MISSING_UUID):
        assert_error(await client.get(ADMIN, params={"before": cursor}, headers=root.headers), 400, "invalid_cursor")


async def test_admin_removes_an_installation(client, installed, assert_error):
    root, alice, (first, _), made = installed
    target = made[1]
    response = await client.delete(f"{ADMIN}/{target['id']}", headers=root.headers)
    assert response.status_code == 200 and response.json()["message"]
    assert (await Installation.get(id=target["id"])).status == "uninstalled"
    members = (await client.get(f"/api/pods/{first['id']}", headers=alice.headers)).json()["members"]
    assert target["botUserId"] not in {member["id"] for member in members}
    assert_error(await client.get(f"/api/registry/pods/{first['id']}/agents/helper",
                                  params={"instanceId": "night-owl"}, headers=alice.headers), 404)
    for bad in (MISSING_UUID, "not-a-uuid", "1"):
        assert_error(await client.delete(f"{ADMIN}/{bad}", headers=root.headers), 404, "installation_not_found")
    assert await Installation.filter(status="active").count() == 4


async def test_admin_revokes_a_runtime_token(client, installed, runtime_token, agent_headers, assert_error):
    root, alice, (first, second), made = installed
    token = await runtime_token(alice, first)
    other = await runtime_token(alice, second, "archivist")
    token_id = (await client.get(f"/api/registry/pods/{first['id']}/agents/helper/runtime-tokens",
                                 headers=alice.headers)).json()["tokens"][0]["id"]
    other_id = str((await RuntimeToken.exclude(id=int(token_id)).get()).id)
    headers = agent_headers(token)
    assert (await client.get("/api/agents/runtime/installations", headers=headers)).status_code == 200
    # a token of another instance is not this installation's
    assert_error(await client.delete(f"{ADMIN}/{made[0]['id']}/runtime-tokens/{other_id}", headers=root.headers), 404,
                 "token_not_found")
    response = await client.delete(f"{ADMIN}/{made[0]['id']}/runtime-tokens/{token_id}", headers=root.headers)
    assert response.status_code == 200 and response.json()["message"]
    assert_error(await client.get("/api/agents/runtime/installations", headers=headers), 401)
    assert (await client.get("/api/agents/runtime/installations", headers=agent_headers(other))).status_code == 200
    assert_error(await client.delete(f"{ADMIN}/{made[0]['id']}/runtime-tokens/{token_id}", headers=root.headers), 404,
                 "token_not_found")  # twice
    # tokens belong to the identity: any of its installations (helper default in Second too) names them
    third = await runtime_token(alice, first)
    third_id = str((await RuntimeToken.exclude(id=int(other_id)).get()).id)
    response = await client.delete(f"{ADMIN}/{made[4]['id']}/runtime-tokens/{third_id}", headers=root.headers)
    assert response.status_code == 200
    assert_error(await client.get("/api/agents/runtime/installations", headers=agent_headers(third)), 401)
    for installation_id, token_ref in [(MISSING_UUID, other_id), (made[3]["id"], "x"), (made[3]["id"], "9" * 40)]:
        assert_error(await client.delete(f"{ADMIN}/{installation_id}/runtime-tokens/{token_ref}",
                                         headers=root.headers), 404)
    assert await RuntimeToken.all().count() == 1


@pytest.mark.parametrize(("method", "path"), [
    ("GET", ADMIN), ("DELETE", f"{ADMIN}/{{id}}"), ("DELETE", f"{ADMIN}/{{id}}/runtime-tokens/1"),
    ("GET", GATEWAYS), ("POST", GATEWAYS), ("GET", f"{GATEWAYS}/{{gateway}}"), ("PATCH", f"{GATEWAYS}/{{gateway}}"),
    ("DELETE", f"{GATEWAYS}/{{gateway}}"),
])
async def test_admin_routes_refuse_others(client, installed, assert_error, method, path):
    _, alice, _, made = installed
    gateway = (await Gateway.get(slug="default")).id
    url = path.format(id=made[0]["id"], gateway=gateway)
    body = {"name": "Mine"} if method in ("POST", "PATCH") else None
    assert_error(await client.request(method, url, json=body, headers=alice.headers), 403, "admin_required")
    assert_error(await client.request(method, url, json=body), 401, "unauthorized")
    assert await Installation.filter(status="active").count() == 5
    assert [gateway.name for gateway in await Gateway.all()] == ["Default gateway"]


# -- gateways --------------------------------------------------------------------------------------


async def test_gateways_crud(client, make_user, assert_error):
    root = await make_user(role="admin")
    listed = (await client.get(GATEWAYS, headers=root.headers)).json()["gateways"]
    assert [(gateway["slug"], gateway["mode"], gateway["type"]) for gateway in listed] == [
        ("default", "local", "openclaw")]
    default = listed[0]
    assert default["_id"] == default["id"]

    response = await client.post(GATEWAYS, json={"name": "Edge Gateway", "mode": "remote",
                                                 "baseUrl": "https://edge.example.com", "metadata": {"region": "eu"}},
                                 headers=root.headers)
    assert response.status_code == 201, response.text
    edge = response.json()["gateway"]
    assert (edge["name"], edge["slug"], edge["mode"], edge["type"], edge["baseUrl"], edge["configPath"],
            edge["metadata"]) == ("Edge Gateway", "edge-gateway", "remote", "openclaw", "https://edge.example.com", "",
                                  {"region": "eu"})
    custom = (await client.post(GATEWAYS, json={"name": "Lab", "slug": "lab-1", "type": "custom",
                                                "configPath": "/etc/lab.json"}, headers=root.headers)).json()["gateway"]
    assert (custom["slug"], custom["type"], custom["configPath"]) == ("lab-1", "custom", "/etc/lab.json")
    for body in ({"name": "Edge gateway"}, {"name": "Another", "slug": "default"}, {"name": "x", "slug": "lab-1"}):
        assert_error(await client.post(GATEWAYS, json=body, headers=root.headers), 409, "gateway_exists")
    assert_error(await client.post(GATEWAYS, json={"name": "Bad", "slug": "Bad Slug"}, headers=root.headers), 400,
                 "validation_error")
    assert [gateway["slug"] for gateway in (await client.get(GATEWAYS, headers=root.headers)).json()["gateways"]] == [
        "default", "edge-gateway", "lab-1"]

    one = await client.get(f"{GATEWAYS}/{edge['id']}", headers=root.headers)
    assert one.json()["gateway"] == edge
    patched = await client.patch(f"{GATEWAYS}/{edge['id']}", json={"baseUrl": "https://edge2.example.com",
                                                                   "metadata": {}}, headers=root.headers)
    assert patched.status_code == 200
    changed = patched.json()["gateway"]
    assert (changed["name"], changed["baseUrl"], changed["metadata"], changed["slug"]) == (
        "Edge Gateway", "https://edge2.example.com", {}, "edge-gateway")
    assert_error(await client.patch(f"{GATEWAYS}/{edge['id']}", json={"slug": "renamed"}, headers=root.headers), 400,
                 "validation_error")

    deleted = await client.delete(f"{GATEWAYS}/{edge['id']}", headers=root.headers)
    assert deleted.status_code == 200 and deleted.json()["message"]
    assert_error(await client.get(f"{GATEWAYS}/{edge['id']}", headers=root.headers), 404, "gateway_not_found")
    assert_error(await client.delete(f"{GATEWAYS}/{edge['id']}", headers=root.headers), 404, "gateway_not_found")
    assert_error(await client.delete(f"{GATEWAYS}/{default['id']}", headers=root.headers), 400, "default_gateway")
    for bad in ("nope", MISSING_UUID):
        assert_error(await client.get(f"{GATEWAYS}/{bad}", headers=root.headers), 404, "gateway_not_found")
        assert_error(await client.patch(f"{GATEWAYS}/{bad}", json={"name": "x"}, headers=root.headers), 404)
    assert sorted(gateway.slug for gateway in await Gateway.all()) == ["default", "lab-1"]
