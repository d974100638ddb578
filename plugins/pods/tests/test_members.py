"""Joining, leaving and removing members, with the member-changed hook."""

from __future__ import annotations

from commonly_pods import create_pod
from commonly_pods.models import Message, PodMember


async def test_join_open_pod_is_idempotent(client, make_user, make_pod, hooks):
    alice = await make_user()
    bob = await make_user()
    pod = await make_pod(alice)
    url = f"/api/pods/{pod['id']}/join"
    for _ in range(2):
        response = await client.post(url, headers=bob.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == pod["id"] and body["role"] == "member" and body["memberCount"] == 2
        assert [(member["id"], member["role"]) for member in body["members"]] == [(alice.id, "admin"),
                                                                                  (bob.id, "member")]
    assert await PodMember.filter(pod_id=pod["id"]).count() == 2
    assert hooks.of("pod_member_changed") == [(pod["id"], alice.id, "joined"), (pod["id"], bob.id, "joined")]
    # the creator joining their own pod changes nothing
    assert (await client.post(url, headers=alice.headers)).json()["role"] == "admin"
    mine = (await client.get("/api/pods", headers=bob.headers)).json()
    assert [item["id"] for item in mine] == [pod["id"]]


async def test_join_invite_only_and_dm_pods(client, live_server, make_user, make_pod, hooks, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    bot = await make_user(is_bot=True)
    secret = await make_pod(alice, joinPolicy="invite-only")
    dm = await create_pod(live_server.app.kernel, alice.id, name="dm", pod_type="agent-admin",
                          join_policy="invite-only", members=[bot.id])
    # hidden from bob: 404, as every route of a pod he cannot see
    assert_error(await client.post(f"/api/pods/{secret['id']}/join", headers=bob.headers), 404, "pod_not_found")
    # a global admin sees it, and hears that it is invite-only
    assert_error(await client.post(f"/api/pods/{secret['id']}/join", headers=root.headers), 403, "join_refused")
    assert_error(await client.post(f"/api/pods/{dm.id}/join", headers=root.headers), 404, "pod_not_found")
    assert_error(await client.post(f"/api/pods/{dm.id}/join", headers=bob.headers), 404, "pod_not_found")
    # members "join" again harmlessly
    assert (await client.post(f"/api/pods/{dm.id}/join", headers=bot.headers)).status_code == 200
    assert await PodMember.filter(pod_id=secret["id"]).count() == 1
    assert await PodMember.filter(pod_id=dm.id).count() == 2
    assert [event for event in hooks.of("pod_member_changed") if event[1] in (root.id, bob.id)] == []
    # an open pod turned invite-only stops taking new members
    pod = await make_pod(alice)
    await client.put(f"/api/pods/{pod['id']}", json={"joinPolicy": "invite-only"}, headers=alice.headers)
    assert_error(await client.post(f"/api/pods/{pod['id']}/join", headers=bob.headers), 404, "pod_not_found")


async def test_leave(client, make_user, make_pod, join_pod, post_message, hooks, assert_error):
    alice = await make_user()
    bob = await make_user()
    carol = await make_user()
    pod = await make_pod(alice)
    secret = await make_pod(alice, joinPolicy="invite-only")
    await join_pod(bob, pod)
    await post_message(bob, pod, "bye soon")
    url = f"/api/pods/{pod['id']}/leave"

    response = await client.post(url, headers=bob.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["role"] is None and body["memberCount"] == 1 and [m["id"] for m in body["members"]] == [alice.id]
    assert hooks.of("pod_member_changed")[-1] == (pod["id"], bob.id, "left")
    assert_error(await client.post(url, headers=bob.headers), 400, "not_a_member")
    assert_error(await client.post(url, headers=carol.headers), 400, "not_a_member")
    assert_error(await client.get(f"/api/pods/{pod['id']}/messages", headers=bob.headers), 403, "not_a_member")
    assert await Message.filter(pod_id=pod["id"]).count() == 1  # what bob wrote stays

    assert_error(await client.post(url, headers=alice.headers), 400, "creator_cannot_leave")
    assert_error(await client.post(f"/api/pods/{secret['id']}/leave", headers=alice.headers), 400,
                 "creator_cannot_leave")
    assert_error(await client.post(f"/api/pods/{secret['id']}/leave", headers=bob.headers), 404, "pod_not_found")
    assert await PodMember.filter(pod_id=pod["id"], user_id=alice.id).count() == 1


async def test_remove_member(client, make_user, make_pod, join_pod, hooks, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    carol = await make_user()
    pod = await make_pod(alice)
    for user in (bob, carol):
        await join_pod(user, pod)
    members = f"/api/pods/{pod['id']}/members"

    assert_error(await client.delete(f"{members}/{carol.id}", headers=bob.headers), 403, "pod_admin_required")
    response = await client.delete(f"{members}/{bob.id}", headers=alice.headers)
    assert response.status_code == 200
    assert [member["id"] for member in response.json()["members"]] == [alice.id, carol.id]
    assert hooks.of("pod_member_changed")[-1] == (pod["id"], bob.id, "removed")
    assert_error(await client.delete(f"{members}/{bob.id}", headers=alice.headers), 404, "member_not_found")
    assert_error(await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "hi"}, headers=bob.headers),
                 403, "not_a_member")

    for admin in (alice, root):
        assert_error(await client.delete(f"{members}/{alice.id}", headers=admin.headers), 400,
                     "creator_cannot_be_removed")
    for missing in ("00000000-0000-4000-8000-000000000000", "not-a-user", "12"):
        assert_error(await client.delete(f"{members}/{missing}", headers=alice.headers), 404, "member_not_found")
    # a global admin may remove members of any pod but DM pods
    response = await client.delete(f"{members}/{carol.id}", headers=root.headers)
    assert response.status_code == 200 and response.json()["memberCount"] == 1
    assert await PodMember.filter(pod_id=pod["id"]).count() == 1
    # removed members may join an open pod again
    assert (await join_pod(bob, pod))["memberCount"] == 2


async def test_cached_reads_follow_every_change(client, make_user, make_pod, join_pod, post_message, assert_error):
    """Pages and the caller's access are kept per process; each change drops them at once."""
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    url = f"/api/pods/{pod['id']}/messages"
    await post_message(alice, pod, "one")
    for _ in range(2):  # the second read is answered from the cache
        assert [m["content"] for m in (await client.get(url, headers=bob.headers)).json()] == ["one"]
    second = await post_message(alice, pod, "two")
    assert [m["content"] for m in (await client.get(url, headers=bob.headers)).json()] == ["one", "two"]
    deleted = await client.delete(f"{url}/{second['id']}", headers=alice.headers)
    assert deleted.status_code == 200
    assert [m["content"] for m in (await client.get(url, headers=bob.headers)).json()] == ["one"]
    renamed = await client.put(f"/api/pods/{pod['id']}", json={"joinPolicy": "invite-only"}, headers=alice.headers)
    assert renamed.status_code == 200
    removed = await client.delete(f"/api/pods/{pod['id']}/members/{bob.id}", headers=alice.headers)
    assert removed.status_code == 200
    assert_error(await client.get(url, headers=bob.headers), 404, "pod_not_found")  # invite-only, not a member
    assert (await client.delete(f"/api/pods/{pod['id']}", headers=alice.headers)).status_code == 200
    assert_error(await client.get(url, headers=alice.headers), 404, "pod_not_found")
