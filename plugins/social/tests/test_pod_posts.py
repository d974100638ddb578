"""Pod-scoped posts (with the pods plugin): only members see, like, comment on or follow them;
pod admins and global admins may delete them; the feed and the people routes respect pods."""

from __future__ import annotations

import pytest

POD_EVENTS = ["notification"]


@pytest.fixture
def commonly_plugins():
    return ["auth", "pods", "social"]


@pytest.fixture
def make_pod(client, live_server):
    """``await make_pod(owner, name, join_policy="open", members=())``: a pod through the API."""

    async def create(owner, name="Pod", join_policy="open", members=()):
        response = await client.post("/api/pods", json={"name": name, "joinPolicy": join_policy},
                                     headers=owner.headers)
        assert response.status_code == 201, response.text
        pod = response.json()
        for member in members:
            if join_policy == "open":
                joined = await client.post(f"/api/pods/{pod['id']}/join", headers=member.headers)
                assert joined.status_code == 200, joined.text
            else:
                await add_member(live_server, pod["id"], member.id)
        return pod

    return create


async def add_member(server, pod_id, user_id, role="member"):
    """Through the pods plugin's public service, as the registry adds agents (the hooks fire)."""
    import commonly_pods

    await commonly_pods.add_member(server.app.kernel, await commonly_pods.get_pod(pod_id), user_id, role)


@pytest.fixture
async def scene(client, make_user, make_pod):
    """owner (pod admin) and member in a private pod with one post; stranger outside; root a global admin."""
    owner, member = await make_user(username="owner"), await make_user(username="member")
    stranger, root = await make_user(username="stranger"), await make_user(username="root", role="admin")
    pod = await make_pod(owner, "Secret", "invite-only", members=[member])
    response = await client.post("/api/posts", json={"content": "pod only", "podId": pod["id"]},
                                 headers=member.headers)
    assert response.status_code == 201, response.text
    return {"owner": owner, "member": member, "stranger": stranger, "root": root, "pod": pod,
            "post": response.json()}


async def test_pod_post_shape_and_members_see_it(client, scene):
    post, pod = scene["post"], scene["pod"]
    assert post["podId"] == pod["id"] and post["source"] == {"type": "pod", "provider": "internal"}
    for who in ("owner", "member"):
        headers = scene[who].headers
        assert (await client.get(f"/api/posts/{post['id']}", headers=headers)).status_code == 200
        assert [p["id"] for p in (await client.get("/api/posts", headers=headers)).json()] == [post["id"]]
        in_pod = (await client.get("/api/posts", params={"podId": pod["id"]}, headers=headers)).json()
        assert [p["id"] for p in in_pod] == [post["id"]]


async def test_non_members_get_404_for_everything(client, scene, assert_error):
    post = scene["post"]
    for who in ("stranger", "root"):
        headers = scene[who].headers
        assert_error(await client.get(f"/api/posts/{post['id']}", headers=headers), 404, "post_not_found")
        assert_error(await client.post(f"/api/posts/{post['id']}/like", headers=headers), 404)
        assert_error(await client.post(f"/api/posts/{post['id']}/comments", json={"text": "hi"}, headers=headers),
                     404)
        assert_error(await client.post(f"/api/posts/{post['id']}/follow", headers=headers), 404)
        assert_error(await client.delete(f"/api/posts/{post['id']}/follow", headers=headers), 404)
        assert_error(await client.put(f"/api/posts/{post['id']}", json={"content": "x"}, headers=headers), 404)
        assert (await client.get("/api/posts", headers=headers)).json() == []
        assert (await client.get("/api/posts/search", params={"query": "pod"}, headers=headers)).json() == []
        # the pod itself: hidden from the stranger; a global admin sees the pod but not its posts
        status, code = (404, "pod_not_found") if who == "stranger" else (403, "not_a_member")
        assert_error(await client.get("/api/posts", params={"podId": scene["pod"]["id"]}, headers=headers), status,
                     code)
    assert_error(await client.delete(f"/api/posts/{post['id']}", headers=scene["stranger"].headers), 404)
    detail = (await client.get(f"/api/posts/{post['id']}", headers=scene["member"].headers)).json()
    assert detail["likes"] == 0 and detail["comments"] == []


async def test_open_pod_non_member_is_403_on_the_pod_and_404_on_posts(client, make_user, make_pod, assert_error):
    owner, outsider = await make_user(), await make_user()
    pod = await make_pod(owner, "Open")
    post = (await client.post("/api/posts", json={"content": "open pod", "podId": pod["id"]},
                              headers=owner.headers)).json()
    assert_error(await client.get("/api/posts", params={"podId": pod["id"]}, headers=outsider.headers), 403,
                 "not_a_member")
    assert_error(await client.post("/api/posts", json={"content": "x", "podId": pod["id"]},
                                   headers=outsider.headers), 403)
    assert_error(await client.get(f"/api/posts/{post['id']}", headers=outsider.headers), 404)
    await client.post(f"/api/pods/{pod['id']}/join", headers=outsider.headers)
    assert (await client.get(f"/api/posts/{post['id']}", headers=outsider.headers)).status_code == 200


async def test_posting_to_unknown_or_malformed_pod(client, make_user, assert_error):
    alice = await make_user()
    for pod_id in ["00000000-0000-4000-8000-000000000000", "not-a-pod"]:
        assert_error(await client.post("/api/posts", json={"content": "x", "podId": pod_id}, headers=alice.headers),
                     404, "pod_not_found")
    assert (await client.get("/api/posts", headers=alice.headers)).json() == []


async def test_pod_admin_and_global_admin_may_delete(client, scene, make_user, assert_error, live_server):
    member, owner, root = scene["member"], scene["owner"], scene["root"]
    pod = scene["pod"]
    other = await make_user()
    await add_member(live_server, pod["id"], other.id)
    assert_error(await client.delete(f"/api/posts/{scene['post']['id']}", headers=other.headers), 403)
    assert (await client.delete(f"/api/posts/{scene['post']['id']}", headers=owner.headers)).status_code == 200
    second = (await client.post("/api/posts", json={"content": "again", "podId": pod["id"]},
                                headers=member.headers)).json()
    assert (await client.delete(f"/api/posts/{second['id']}", headers=root.headers)).status_code == 200
    assert (await client.get("/api/posts", headers=member.headers)).json() == []


async def test_pod_admin_may_delete_comments(client, scene, make_user, assert_error, live_server):
    member, owner, pod = scene["member"], scene["owner"], scene["pod"]
    other = await make_user()
    await add_member(live_server, pod["id"], other.id)
    url = f"/api/posts/{scene['post']['id']}/comments"
    comment = (await client.post(url, json={"text": "by other", "podId": pod["id"]}, headers=other.headers)).json()
    assert_error(await client.post(url, json={"text": "x", "podId": "00000000-0000-4000-8000-000000000000"},
                                   headers=other.headers), 400, "pod_mismatch")
    assert (await client.delete(f"{url}/{comment['id']}", headers=owner.headers)).status_code == 200
    assert member  # the post's author could have, too (see test_comments)


async def test_viewers_read_but_do_not_post(client, scene, make_user, assert_error, live_server):
    viewer = await make_user()
    await add_member(live_server, scene["pod"]["id"], viewer.id, role="viewer")
    assert (await client.get(f"/api/posts/{scene['post']['id']}", headers=viewer.headers)).status_code == 200
    assert_error(await client.post("/api/posts", json={"content": "x", "podId": scene["pod"]["id"]},
                                   headers=viewer.headers), 403, "read_only_member")


async def test_leaving_a_pod_hides_its_posts(client, make_user, make_pod, assert_error):
    owner, member = await make_user(), await make_user()
    pod = await make_pod(owner, "Open", members=[member])
    post = (await client.post("/api/posts", json={"content": "x", "podId": pod["id"]}, headers=owner.headers)).json()
    await client.post(f"/api/posts/{post['id']}/follow", headers=member.headers)
    assert len((await client.get("/api/posts/following/threads", headers=member.headers)).json()["threads"]) == 1
    assert len((await client.get("/api/posts", headers=member.headers)).json()) == 1  # now cached
    assert (await client.post(f"/api/pods/{pod['id']}/leave", headers=member.headers)).status_code == 200
    assert (await client.get("/api/posts", headers=member.headers)).json() == []
    assert (await client.get("/api/activity/feed", headers=member.headers)).json()["quick"]["recentPods"] == []
    assert_error(await client.get(f"/api/posts/{post['id']}", headers=member.headers), 404)
    assert (await client.get("/api/posts/following/threads", headers=member.headers)).json()["threads"] == []


async def test_pod_feed_and_quick_section(client, scene, make_user):
    owner, member, stranger = scene["owner"], scene["member"], scene["stranger"]
    feed = (await client.get("/api/activity/feed", headers=owner.headers)).json()
    [item] = feed["activities"]
    assert item["type"] == "post" and item["podId"] == scene["pod"]["id"] and item["visibility"] == "pod"
    assert (await client.get("/api/activity/feed", params={"filter": "pods"},
                             headers=owner.headers)).json()["activities"] == [item]
    assert feed["quick"]["recentPods"] == [{"id": scene["pod"]["id"], "name": "Secret", "description": "",
                                            "type": "chat"}]
    # strangers who follow the author still never see pod activity
    await client.post(f"/api/users/{member.id}/follow", headers=stranger.headers)
    await client.post(f"/api/posts/{scene['post']['id']}/comments", json={"text": "@stranger look"},
                      headers=member.headers)
    assert (await client.get("/api/activity/feed", headers=stranger.headers)).json()["activities"] == []
    owner_feed = (await client.get("/api/activity/feed", headers=owner.headers)).json()
    assert [a["type"] for a in owner_feed["activities"]] == ["comment", "post"]


async def test_mark_read_of_a_pod_activity_needs_membership(client, scene, assert_error):
    [item] = (await client.get("/api/activity/feed", headers=scene["owner"].headers)).json()["activities"]
    assert_error(await client.post("/api/activity/mark-read", json={"activityId": item["id"]},
                                   headers=scene["stranger"].headers), 404)


async def test_public_activity_shows_only_pods_the_caller_may_see(client, make_user, make_pod):
    alice, bob = await make_user(), await make_user()
    open_pod = await make_pod(alice, "Open one")
    secret = await make_pod(alice, "Hidden one", "invite-only")
    await client.post("/api/posts", json={"content": "global"}, headers=alice.headers)
    await client.post("/api/posts", json={"content": "secret", "podId": secret["id"]}, headers=alice.headers)
    seen = (await client.get(f"/api/users/{alice.id}/public-activity", headers=bob.headers)).json()
    assert [pod["id"] for pod in seen["joinedPods"]] == [open_pod["id"]]
    assert [post["content"] for post in seen["recentPublicPosts"]] == ["global"]
    own = (await client.get(f"/api/users/{alice.id}/public-activity", headers=alice.headers)).json()
    assert [pod["name"] for pod in own["joinedPods"]] == ["Hidden one", "Open one"]
    assert [post["content"] for post in own["recentPublicPosts"]] == ["secret", "global"]
    posts = (await client.get(f"/api/users/{alice.id}/posts", headers=bob.headers)).json()
    assert [post["content"] for post in posts] == ["global"]


async def test_follow_and_mention_notify_over_the_socket(client, make_user, make_post, connect_socket):
    from commonly_kernel.testing import wait_for

    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    sock = await connect_socket(bob.token, events=POD_EVENTS)
    await client.post(f"/api/users/{bob.id}/follow", headers=alice.headers)
    post = await make_post(alice)
    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "hey @bob"}, headers=alice.headers)
    await wait_for(lambda: len(sock.received) >= 2)
    payloads = [data for _, data in sock.received]
    assert payloads[0]["type"] == "follow" and payloads[0]["from"] == {"id": alice.id, "username": "alice"}
    assert payloads[1]["type"] == "mention" and payloads[1]["postId"] == post["id"]


async def test_deleting_a_pod_deletes_its_posts(client, scene):
    owner = scene["owner"]
    assert (await client.delete(f"/api/pods/{scene['pod']['id']}", headers=owner.headers)).status_code == 200
    assert (await client.get("/api/posts", headers=scene["member"].headers)).json() == []
    assert (await client.get("/api/activity/feed", headers=owner.headers)).json()["activities"] == []
