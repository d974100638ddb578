"""The activity feed: who sees what, modes, filters, paging, unread count, mark-read, quick section."""

from __future__ import annotations

import commonly_social


async def feed(client, user, **params):
    response = await client.get("/api/activity/feed", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def kinds(body):
    return [(item["type"], item["actor"]["name"]) for item in body["activities"]]


async def test_empty_feed_shape(client, make_user):
    alice = await make_user()
    body = await feed(client, alice)
    assert body == {"activities": [], "hasMore": False, "nextCursor": None, "unreadCount": 0,
                    "quick": {"social": {"followers": 0, "following": 0}, "recentPods": [], "followedThreads": []}}


async def test_followers_see_posts_and_comments_of_people_they_follow(client, make_user, make_post):
    alice, bob, carol = await make_user(username="alice"), await make_user(username="bob"), await make_user()
    await client.post(f"/api/users/{alice.id}/follow", headers=bob.headers)
    post = await make_post(alice, content="Hello followers")
    other = await make_post(carol, content="nobody follows me")
    await client.post(f"/api/posts/{other['id']}/comments", json={"text": "alice was here"}, headers=alice.headers)
    body = await feed(client, bob)
    assert kinds(body) == [("comment", "alice"), ("post", "alice")]
    item = body["activities"][1]
    assert item["postId"] == post["id"] and item["visibility"] == "public" and item["read"] is False
    assert item["target"] == {"title": "Hello followers", "url": f"/thread/{post['id']}"}
    assert item["_id"] == item["id"] and item["podId"] is None and item["content"] == "Hello followers"
    assert kinds(await feed(client, alice)) == [("follow", "bob")]  # not her own post or comment
    assert [k for k, _ in kinds(await feed(client, carol))] == ["comment"]  # carol is told as the post's author


async def test_comment_tells_author_followers_and_mentioned(client, make_user, make_post):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    carol, dave = await make_user(username="carol"), await make_user(username="dave")
    post = await make_post(alice)
    await client.post(f"/api/posts/{post['id']}/follow", headers=bob.headers)
    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "ping @dave"}, headers=carol.headers)
    for user in (alice, bob, dave):
        assert kinds(await feed(client, user)) == [("comment", "carol")]
    assert kinds(await feed(client, dave, filter="mentions")) == [("comment", "carol")]
    assert kinds(await feed(client, bob, filter="mentions")) == []
    assert kinds(await feed(client, bob, filter="threads")) == [("comment", "carol")]
    assert kinds(await feed(client, alice, filter="threads")) == []
    assert kinds(await feed(client, carol)) == []  # never your own actions


async def test_likes_tell_the_author_once(client, make_user, make_post):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    post = await make_post(alice)
    for _ in range(3):
        await client.post(f"/api/posts/{post['id']}/like", headers=bob.headers)
    await client.post(f"/api/posts/{post['id']}/like", headers=alice.headers)
    assert kinds(await feed(client, alice)) == [("like", "bob")]


async def test_modes_and_actor_filters(client, make_user, live_server):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    kernel = live_server.app.kernel
    await commonly_social.record_activity(kernel, type="agent_action", actor={"id": "agent-1", "name": "Summarizer",
                                                                              "type": "agent"},
                                          action="summarised the week", visibility="private", recipients=[alice.id])
    await commonly_social.record_activity(kernel, type="pod_event", actor=None, action="maintenance",
                                          visibility="private", recipients=[(alice.id, "system")])
    await client.post(f"/api/users/{alice.id}/follow", headers=bob.headers)
    updates = await feed(client, alice)
    assert kinds(updates) == [("follow", "bob"), ("pod_event", "Commonly")]
    assert updates["activities"][1]["actor"] == {"id": None, "name": "Commonly", "type": "system"}
    actions = await feed(client, alice, mode="actions")
    assert kinds(actions) == [("agent_action", "Summarizer")]
    assert actions["activities"][0]["actor"] == {"id": "agent-1", "name": "Summarizer", "type": "agent"}
    assert kinds(await feed(client, alice, mode="actions", filter="agents")) == [("agent_action", "Summarizer")]
    assert kinds(await feed(client, alice, filter="humans")) == [("follow", "bob")]
    assert kinds(await feed(client, alice, filter="agents")) == []
    assert kinds(await feed(client, alice, filter="pods")) == []
    assert kinds(await feed(client, alice, filter="following")) == []
    assert kinds(await feed(client, bob)) == []


async def test_bad_feed_queries(client, make_user, assert_error):
    alice = await make_user()
    for params in [{"mode": "everything"}, {"filter": "nope"}, {"limit": 0}, {"limit": 101}, {"before": "x"}]:
        assert_error(await client.get("/api/activity/feed", params=params, headers=alice.headers), 400)
    assert_error(await client.get("/api/activity/unread-count", params={"mode": "x"}, headers=alice.headers), 400)


async def test_paging(client, make_user):
    alice, bob = await make_user(), await make_user(username="bob")
    await client.post(f"/api/users/{bob.id}/follow", headers=alice.headers)
    for n in range(5):
        await client.post("/api/posts", json={"content": f"p{n}"}, headers=bob.headers)
    first = await feed(client, alice, limit=2)
    assert [item["content"] for item in first["activities"]] == ["p4", "p3"]
    assert first["hasMore"] is True and first["nextCursor"] == first["activities"][-1]["id"]
    second = await feed(client, alice, limit=2, before=first["nextCursor"])
    assert [item["content"] for item in second["activities"]] == ["p2", "p1"]
    last = await feed(client, alice, limit=2, before=second["nextCursor"])
    assert [item["content"] for item in last["activities"]] == ["p0"] and last["hasMore"] is False


async def test_unread_and_mark_read(client, make_user, make_post, assert_error):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    post = await make_post(alice)
    for n in range(3):
        await client.post(f"/api/posts/{post['id']}/comments", json={"text": f"c{n}"}, headers=bob.headers)
    unread = await client.get("/api/activity/unread-count", headers=alice.headers)
    assert unread.json() == {"unreadCount": 3}
    body = await feed(client, alice)
    assert body["unreadCount"] == 3 and all(item["read"] is False for item in body["activities"])
    newest = body["activities"][0]["id"]

    response = await client.post("/api/activity/mark-read", json={"activityId": newest}, headers=alice.headers)
    assert response.json() == {"success": True, "lastViewedAt": None}  # one item: lastViewedAt unchanged
    body = await feed(client, alice)
    assert [item["read"] for item in body["activities"]] == [True, False, False] and body["unreadCount"] == 2
    again = await client.post("/api/activity/mark-read", json={"activityId": newest}, headers=alice.headers)
    assert again.status_code == 200
    assert (await client.get("/api/activity/unread-count", headers=alice.headers)).json()["unreadCount"] == 2
    assert (await client.get("/api/activity/unread-count", params={"mode": "actions"},
                             headers=alice.headers)).json()["unreadCount"] == 0

    response = await client.post("/api/activity/mark-read", json={"all": True}, headers=alice.headers)
    viewed = response.json()["lastViewedAt"]
    assert response.json()["success"] is True and viewed
    body = await feed(client, alice)
    assert body["unreadCount"] == 0 and all(item["read"] for item in body["activities"])
    single = await client.post("/api/activity/mark-read", json={"activityId": newest}, headers=alice.headers)
    assert single.json()["lastViewedAt"] == viewed

    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "new"}, headers=bob.headers)
    assert (await client.get("/api/activity/unread-count", headers=alice.headers)).json()["unreadCount"] == 1


async def test_mark_read_refusals(client, make_user, make_post, assert_error):
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    post = await make_post(alice)
    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "hi"}, headers=bob.headers)
    [item] = (await feed(client, alice))["activities"]
    for body in [{}, {"all": False}, {"activityId": None}, {"all": "yes"}, {"activityId": 5}, {"other": 1}]:
        assert_error(await client.post("/api/activity/mark-read", json=body, headers=alice.headers), 400)
    assert_error(await client.post("/api/activity/mark-read", json={"activityId": "abc"}, headers=alice.headers),
                 400)
    # an activity the caller cannot see is not found
    assert_error(await client.post("/api/activity/mark-read", json={"activityId": item["id"]},
                                   headers=carol.headers), 404, "activity_not_found")
    assert_error(await client.post("/api/activity/mark-read", json={"activityId": "999999"},
                                   headers=alice.headers), 404)
    assert (await feed(client, alice))["unreadCount"] == 1


async def test_unread_count_is_capped(client, make_user, make_post):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice)
    for n in range(105):
        await client.post(f"/api/posts/{post['id']}/comments", json={"text": f"c{n}"}, headers=bob.headers)
    assert (await client.get("/api/activity/unread-count", headers=alice.headers)).json()["unreadCount"] == 100


async def test_quick_section(client, make_user, make_post):
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    await client.post(f"/api/users/{alice.id}/follow", headers=bob.headers)
    await client.post(f"/api/users/{carol.id}/follow", headers=alice.headers)
    posts = [await make_post(bob, content=f"thread {n}") for n in range(8)]
    for post in posts:
        await client.post(f"/api/posts/{post['id']}/follow", headers=alice.headers)
    await client.post(f"/api/posts/{posts[-1]['id']}/comments", json={"text": "new!"}, headers=carol.headers)
    quick = (await feed(client, alice))["quick"]
    assert quick["social"] == {"followers": 1, "following": 1}
    assert quick["recentPods"] == []
    threads = quick["followedThreads"]
    assert len(threads) == 6 and threads[0]["postId"] == posts[-1]["id"]
    assert threads[0]["newReplies"] == 1 and threads[0]["commentCount"] == 1 and threads[0]["content"] == "thread 7"
    assert all(thread["newReplies"] == 0 for thread in threads[1:])
