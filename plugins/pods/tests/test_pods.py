"""Pods as objects: listing by scope and type, detail, create, update, delete (with its cascade)."""

from __future__ import annotations

from datetime import datetime

from commonly_pods import create_pod
from commonly_pods.models import IdempotencyKey, Message, Pod, PodAsset, PodMember


def names(pods: list[dict]) -> set[str]:
    return {pod["name"] for pod in pods}


async def list_pods(client, user, **params) -> list[dict]:
    response = await client.get("/api/pods", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_list_scopes_types_and_dm_pods(client, live_server, make_user, make_pod, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    bot_a = await make_user(is_bot=True)
    bot_b = await make_user(is_bot=True)
    await make_pod(alice, name="open-a")
    await make_pod(alice, name="secret-a", joinPolicy="invite-only")
    await make_pod(alice, name="study-a", type="study")
    await make_pod(bob, name="open-b", description="bob's room")
    await make_pod(bob, name="secret-b", joinPolicy="invite-only")
    kernel = live_server.app.kernel
    await create_pod(kernel, alice.id, name="dm-a", pod_type="agent-admin", join_policy="invite-only",
                     members=[bot_a.id])
    await create_pod(kernel, bob.id, name="dm-b", pod_type="agent-admin", join_policy="invite-only",
                     members=[bot_b.id])

    assert names(await list_pods(client, alice)) == {"open-a", "secret-a", "study-a"}
    assert names(await list_pods(client, alice, scope="mine")) == {"open-a", "secret-a", "study-a"}
    assert names(await list_pods(client, alice, scope="discover")) == {"open-b"}
    assert names(await list_pods(client, alice, type="study")) == {"study-a"}
    assert names(await list_pods(client, alice, type="chat", scope="discover")) == {"open-b"}
    # DM pods: only when asked for, only one's own, whatever the scope
    assert names(await list_pods(client, alice, type="agent-admin")) == {"dm-a"}
    assert names(await list_pods(client, bot_a, type="agent-admin")) == {"dm-a"}
    assert names(await list_pods(client, bot_b, type="agent-admin")) == {"dm-b"}
    assert await list_pods(client, alice, type="agent-admin", scope="discover") == []
    assert await list_pods(client, root, type="agent-admin", scope="all") == []
    assert names(await list_pods(client, root, scope="all")) == {"open-a", "secret-a", "study-a", "open-b",
                                                                 "secret-b"}
    assert names(await list_pods(client, root, scope="discover")) == {"open-a", "study-a", "open-b"}
    assert_error(await client.get("/api/pods", params={"scope": "all"}, headers=alice.headers), 403,
                 "admin_required")
    # unknown query parameters are ignored, bad values of known ones refused
    assert names(await list_pods(client, alice, page="2", sort="x")) == {"open-a", "secret-a", "study-a"}
    for params in ({"scope": "everything"}, {"type": "party"}, {"limit": "abc"}):
        assert_error(await client.get("/api/pods", params=params, headers=alice.headers), 400, "validation_error")

    [open_b] = await list_pods(client, alice, scope="discover")
    assert open_b["_id"] == open_b["id"]
    assert open_b["description"] == "bob's room"
    assert open_b["memberCount"] == 1 and open_b["role"] is None
    assert open_b["createdBy"] == bob.id
    assert [member["id"] for member in open_b["members"]] == [bob.id]


async def test_list_pages_newest_first_with_next_cursor(client, make_user, make_pod, assert_error):
    root = await make_user(role="admin")
    for number in range(5):
        await make_pod(root, name=f"pod-{number}")
    seen: list[dict] = []
    params: dict[str, str | int] = {"limit": 2}
    for _ in range(5):
        response = await client.get("/api/pods", params=params, headers=root.headers)
        assert response.status_code == 200
        page = response.json()
        assert len(page) <= 2
        seen.extend(page)
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        assert cursor == page[-1]["id"]
        params["before"] = cursor
    assert [pod["name"] for pod in seen] == [f"pod-{number}" for number in range(4, -1, -1)]
    created = [datetime.fromisoformat(pod["createdAt"]) for pod in seen]
    assert created == sorted(created, reverse=True)
    # limit is clamped to 1..100, never refused
    response = await client.get("/api/pods", params={"limit": 0}, headers=root.headers)
    assert len(response.json()) == 1 and response.headers["X-Next-Cursor"]
    assert len((await client.get("/api/pods", params={"limit": 1000}, headers=root.headers)).json()) == 5
    assert_error(await client.get("/api/pods", params={"before": "not-a-pod"}, headers=root.headers), 400,
                 "invalid_cursor")
    # a private pod's id is a cursor only for those who may see it (ids cannot be probed)
    alice = await make_user()
    secret = await make_pod(root, name="secret", joinPolicy="invite-only")
    assert_error(await client.get("/api/pods", params={"before": secret["id"], "scope": "discover"},
                                  headers=alice.headers), 400, "invalid_cursor")
    response = await client.get("/api/pods", params={"before": secret["id"]}, headers=root.headers)
    assert [pod["name"] for pod in response.json()] == [f"pod-{number}" for number in range(4, -1, -1)]


async def test_detail_hides_private_pods(client, live_server, make_user, make_pod, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    bot = await make_user(is_bot=True)
    open_pod = await make_pod(alice, name="open", description="all welcome")
    secret = await make_pod(alice, name="secret", joinPolicy="invite-only")
    dm = await create_pod(live_server.app.kernel, alice.id, name="dm", pod_type="agent-admin",
                          join_policy="invite-only", members=[bot.id])

    response = await client.get(f"/api/pods/{open_pod['id']}", headers=bob.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "open" and body["description"] == "all welcome" and body["role"] is None
    assert body["memberCount"] == 1 and body["members"][0]["username"] == alice.username

    assert_error(await client.get(f"/api/pods/{secret['id']}", headers=bob.headers), 404, "pod_not_found")
    assert (await client.get(f"/api/pods/{secret['id']}", headers=root.headers)).json()["role"] is None
    assert_error(await client.get(f"/api/pods/{dm.id}", headers=root.headers), 404, "pod_not_found")
    assert_error(await client.get(f"/api/pods/{dm.id}", headers=bob.headers), 404, "pod_not_found")
    for member in (alice, bot):
        response = await client.get(f"/api/pods/{dm.id}", headers=member.headers)
        assert response.status_code == 200
        assert {m["id"]: m["isBot"] for m in response.json()["members"]} == {alice.id: False, bot.id: True}
    for missing in ("00000000-0000-4000-8000-000000000000", "nope", "1", "%20"):
        assert_error(await client.get(f"/api/pods/{missing}", headers=alice.headers), 404, "pod_not_found")


async def test_create_pod(client, make_user, hooks, assert_error):
    alice = await make_user()
    response = await client.post("/api/pods", json={"name": "Book club"}, headers=alice.headers)
    assert response.status_code == 201
    pod = response.json()
    assert pod["_id"] == pod["id"]
    assert (pod["name"], pod["description"], pod["type"], pod["joinPolicy"]) == ("Book club", "", "chat", "open")
    assert pod["createdBy"] == alice.id and pod["role"] == "admin" and pod["memberCount"] == 1
    [member] = pod["members"]
    assert (member["id"], member["_id"], member["role"], member["isBot"]) == (alice.id, alice.id, "admin", False)
    assert pod["createdAt"].endswith("Z")
    assert hooks.of("pod_member_changed") == [(pod["id"], alice.id, "joined")]

    full = {"name": "Games", "description": "Friday nights", "type": "games", "joinPolicy": "invite-only"}
    body = (await client.post("/api/pods", json=full, headers=alice.headers)).json()
    assert {key: body[key] for key in full} == full
    for pod_type in ("study", "agent-ensemble"):
        assert (await client.post("/api/pods", json={"name": "x", "type": pod_type},
                                  headers=alice.headers)).json()["type"] == pod_type

    before = await Pod.all().count()
    assert_error(await client.post("/api/pods", json={"name": "DM", "type": "agent-admin"}, headers=alice.headers),
                 400, "invalid_type")
    for bad in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "x", "type": "party"},
                {"name": "x", "joinPolicy": "closed"}, {"name": 5}, {"name": "x", "members": []}):
        assert_error(await client.post("/api/pods", json=bad, headers=alice.headers), 400, "validation_error")
    assert await Pod.all().count() == before
    assert (await client.post("/api/pods", json={"name": "x" * 100}, headers=alice.headers)).status_code == 201


async def test_update_pod(client, live_server, make_user, make_pod, join_pod, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    bot = await make_user(is_bot=True)
    pod = await make_pod(alice, name="Old", description="old")
    url = f"/api/pods/{pod['id']}"

    response = await client.put(url, json={"name": "New", "description": "new", "joinPolicy": "invite-only",
                                           "type": "study"}, headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["joinPolicy"], body["type"]) == ("New", "new", "invite-only",
                                                                                     "study")
    assert body["updatedAt"] >= pod["updatedAt"] and body["createdAt"] == pod["createdAt"]
    # a partial update leaves the rest alone
    body = (await client.put(url, json={"joinPolicy": "open"}, headers=alice.headers)).json()
    assert (body["name"], body["joinPolicy"], body["type"]) == ("New", "open", "study")
    assert (await client.put(url, json={}, headers=alice.headers)).json()["name"] == "New"
    # a global admin may, though not a member
    assert (await client.put(url, json={"name": "By root"}, headers=root.headers)).json()["name"] == "By root"
    assert (await client.get(url, headers=alice.headers)).json()["name"] == "By root"

    assert_error(await client.put(url, json={"name": "x"}, headers=bob.headers), 403, "not_a_member")
    await join_pod(bob, pod)
    assert_error(await client.put(url, json={"name": "x"}, headers=bob.headers), 403, "pod_admin_required")
    assert_error(await client.put(url, json={"type": "agent-admin"}, headers=alice.headers), 400, "invalid_type")
    for bad in ({"name": ""}, {"joinPolicy": "closed"}, {"name": "x", "owner": bob.id}, {"description": 3}):
        assert_error(await client.put(url, json=bad, headers=alice.headers), 400, "validation_error")
    assert (await client.get(url, headers=alice.headers)).json()["name"] == "By root"

    dm = await create_pod(live_server.app.kernel, alice.id, name="dm", pod_type="agent-admin",
                          join_policy="invite-only", members=[bot.id])
    assert_error(await client.put(f"/api/pods/{dm.id}", json={"type": "chat"}, headers=alice.headers), 400,
                 "invalid_type")
    assert_error(await client.put(f"/api/pods/{dm.id}", json={"name": "x"}, headers=root.headers), 404)


async def test_delete_pod_cascades_and_fires_the_hook(client, live_server, make_user, make_pod, join_pod,
                                                      post_message, make_asset, hooks, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    bot = await make_user(is_bot=True)
    doomed = await make_pod(alice, name="doomed")
    kept = await make_pod(alice, name="kept")
    for pod in (doomed, kept):
        await join_pod(bob, pod)
        await post_message(bob, pod, "hi")
        await make_asset(alice, pod, title="notes", content="text")
    keyed = await client.post(f"/api/pods/{doomed['id']}/messages", json={"content": "once"},
                              headers={**bob.headers, "Idempotency-Key": "k1"})
    assert keyed.status_code == 201
    url = f"/api/pods/{doomed['id']}"

    assert_error(await client.delete(url, headers=bob.headers), 403, "pod_admin_required")
    response = await client.delete(url, headers=alice.headers)
    assert response.status_code == 200 and response.json() == {"message": "Pod deleted."}
    assert hooks.of("pod_deleted") == [(doomed["id"],)]
    assert_error(await client.get(url, headers=alice.headers), 404, "pod_not_found")
    assert_error(await client.delete(url, headers=alice.headers), 404, "pod_not_found")
    for model in (Message, PodAsset, PodMember):
        assert await model.filter(pod_id=doomed["id"]).count() == 0
        assert await model.filter(pod_id=kept["id"]).count() > 0
    assert await IdempotencyKey.filter(message_id=keyed.json()["id"]).count() == 0
    assert names(await list_pods(client, bob)) == {"kept"}

    # a global admin may delete any pod but a DM pod, which stays hidden
    assert (await client.delete(f"/api/pods/{kept['id']}", headers=root.headers)).status_code == 200
    dm = await create_pod(live_server.app.kernel, alice.id, name="dm", pod_type="agent-admin",
                          join_policy="invite-only", members=[bot.id])
    assert_error(await client.delete(f"/api/pods/{dm.id}", headers=root.headers), 404, "pod_not_found")
    assert_error(await client.delete(f"/api/pods/{dm.id}", headers=bot.headers), 403, "pod_admin_required")
    assert (await client.delete(f"/api/pods/{dm.id}", headers=alice.headers)).status_code == 200
    assert hooks.of("pod_deleted") == [(doomed["id"],), (kept["id"],), (str(dm.id),)]
