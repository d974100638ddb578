"""Posts: create, read, list with its cursor, update, delete, likes, in the global feed."""

from __future__ import annotations

import pytest


async def test_create_and_read_a_post(client, make_user):
    alice = await make_user(username="alice")
    response = await client.post("/api/posts", json={"content": "Hi all", "tags": ["#Intro", "news"],
                                                     "category": "Talk", "media": "https://x.test/a.png"},
                                 headers=alice.headers)
    assert response.status_code == 201, response.text
    post = response.json()
    assert post["id"] == post["_id"] and post["id"].isdigit()
    assert post["userId"] == alice.id and post["username"] == "alice" and post["isBot"] is False
    assert post["author"] == {"id": alice.id, "_id": alice.id, "username": "alice", "profilePicture": "default",
                              "isBot": False}
    assert post["podId"] is None and post["image"] == "https://x.test/a.png"
    assert post["tags"] == ["Intro", "news"] and post["category"] == "Talk"
    assert post["source"] == {"type": "user", "provider": "internal"}
    assert post["likes"] == 0 and post["liked"] is False and post["commentCount"] == 0
    assert "comments" not in post

    detail = (await client.get(f"/api/posts/{post['id']}", headers=alice.headers)).json()
    assert detail["content"] == "Hi all" and detail["comments"] == [] and detail["commentCount"] == 0


async def test_every_route_needs_a_token(client, make_user, make_post, assert_error):
    alice = await make_user()
    post = await make_post(alice)
    some_user = alice.id
    for method, path in [
        ("GET", "/api/posts"), ("GET", "/api/posts/search"), ("GET", "/api/posts/following/threads"),
        ("GET", f"/api/posts/{post['id']}"), ("POST", "/api/posts"), ("PUT", f"/api/posts/{post['id']}"),
        ("DELETE", f"/api/posts/{post['id']}"), ("POST", f"/api/posts/{post['id']}/like"),
        ("POST", f"/api/posts/{post['id']}/comments"), ("DELETE", f"/api/posts/{post['id']}/comments/1"),
        ("POST", f"/api/posts/{post['id']}/follow"), ("DELETE", f"/api/posts/{post['id']}/follow"),
        ("GET", "/api/users"), ("GET", f"/api/users/{some_user}"), ("PUT", f"/api/users/{some_user}"),
        ("GET", f"/api/users/{some_user}/posts"), ("POST", f"/api/users/{some_user}/follow"),
        ("DELETE", f"/api/users/{some_user}/follow"), ("GET", f"/api/users/{some_user}/public-activity"),
        ("GET", "/api/activity/feed"), ("GET", "/api/activity/unread-count"), ("POST", "/api/activity/mark-read"),
    ]:
        assert_error(await client.request(method, path, json={"content": "x"}), 401)
        assert_error(await client.request(method, path, headers={"Authorization": "Bearer nonsense.x.y"}), 401)


async def test_list_is_newest_first_with_a_cursor(client, make_user, make_post):
    alice = await make_user()
    ids = [(await make_post(alice, content=f"post {n}"))["id"] for n in range(5)]
    response = await client.get("/api/posts", params={"limit": 2}, headers=alice.headers)
    assert [post["id"] for post in response.json()] == ids[::-1][:2]
    assert response.headers["X-Next-Cursor"] == ids[3]
    response = await client.get("/api/posts", params={"limit": 2, "before": ids[3]}, headers=alice.headers)
    assert [post["id"] for post in response.json()] == [ids[2], ids[1]]
    response = await client.get("/api/posts", params={"limit": 2, "before": ids[1]}, headers=alice.headers)
    assert [post["id"] for post in response.json()] == [ids[0]]
    assert "X-Next-Cursor" not in response.headers
    default = await client.get("/api/posts", headers=alice.headers)
    assert len(default.json()) == 5 and "X-Next-Cursor" not in default.headers


async def test_list_default_limit_is_20_and_max_100(client, make_user, make_post, assert_error):
    alice = await make_user()
    for n in range(21):
        await make_post(alice, content=f"p{n}")
    response = await client.get("/api/posts", headers=alice.headers)
    assert len(response.json()) == 20 and "X-Next-Cursor" in response.headers
    assert_error(await client.get("/api/posts", params={"limit": 101}, headers=alice.headers), 400)
    assert_error(await client.get("/api/posts", params={"limit": "abc"}, headers=alice.headers), 400)
    assert_error(await client.get("/api/posts", params={"before": "abc"}, headers=alice.headers), 400)
    assert_error(await client.get("/api/posts", params={"before": "99999999999999999999"}, headers=alice.headers),
                 400)
    # unknown query parameters are ignored
    assert (await client.get("/api/posts", params={"whatever": "1"}, headers=alice.headers)).status_code == 200


async def test_category_filter(client, make_user, make_post):
    alice = await make_user()
    await make_post(alice, content="a", category="News")
    await make_post(alice, content="b")
    posts = (await client.get("/api/posts", params={"category": "News"}, headers=alice.headers)).json()
    assert [post["content"] for post in posts] == ["a"]
    general = (await client.get("/api/posts", params={"category": "General"}, headers=alice.headers)).json()
    assert [post["content"] for post in general] == ["b"]


async def test_pod_id_is_refused_without_the_pods_plugin(client, make_user, assert_error):
    alice = await make_user()
    response = await client.post("/api/posts", json={"content": "x", "podId": "00000000-0000-4000-8000-000000000000"},
                                 headers=alice.headers)
    assert_error(response, 400, "pods_unavailable")
    assert_error(await client.get("/api/posts", params={"podId": "abc"}, headers=alice.headers), 400,
                 "pods_unavailable")
    assert (await client.get("/api/posts", headers=alice.headers)).json() == []


async def test_external_source_is_refused(client, make_user, assert_error):
    alice = await make_user()
    for source in [{"type": "external", "provider": "x"}, {"type": "user", "provider": "x"},
                   {"type": "pod", "provider": "internal"}]:
        response = await client.post("/api/posts", json={"content": "x", "source": source}, headers=alice.headers)
        assert_error(response, 400, "invalid_source")
    response = await client.post("/api/posts", json={"content": "x", "source": {"type": "user"}}, headers=alice.headers)
    assert response.status_code == 201
    assert len((await client.get("/api/posts", headers=alice.headers)).json()) == 1


async def test_update_by_author_only(client, make_user, make_post, assert_error):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice, content="first", media="https://x.test/1.png")
    response = await client.put(f"/api/posts/{post['id']}", json={"content": "second", "tags": ["t"]},
                                headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == "second" and body["tags"] == ["t"] and body["image"] == "https://x.test/1.png"
    assert body["updatedAt"] >= post["updatedAt"]
    body = (await client.put(f"/api/posts/{post['id']}", json={"media": None}, headers=alice.headers)).json()
    assert body["image"] is None and body["content"] == "second"
    assert_error(await client.put(f"/api/posts/{post['id']}", json={"content": "mine"}, headers=bob.headers), 403)
    assert (await client.get(f"/api/posts/{post['id']}", headers=bob.headers)).json()["content"] == "second"
    assert_error(await client.put("/api/posts/999999", json={"content": "x"}, headers=alice.headers), 404)


async def test_delete_by_author_or_global_admin(client, make_user, make_post, assert_error):
    alice, bob = await make_user(), await make_user()
    admin = await make_user(role="admin")
    first, second = await make_post(alice), await make_post(alice)
    assert_error(await client.delete(f"/api/posts/{first['id']}", headers=bob.headers), 403)
    response = await client.delete(f"/api/posts/{first['id']}", headers=alice.headers)
    assert response.status_code == 200 and response.json() == {"message": "Post deleted."}
    assert_error(await client.get(f"/api/posts/{first['id']}", headers=alice.headers), 404, "post_not_found")
    assert (await client.delete(f"/api/posts/{second['id']}", headers=admin.headers)).status_code == 200
    assert_error(await client.delete(f"/api/posts/{second['id']}", headers=admin.headers), 404)
    assert (await client.get("/api/posts", headers=alice.headers)).json() == []


async def test_delete_removes_the_thread(client, make_user, make_post):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice)
    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "hey"}, headers=bob.headers)
    await client.post(f"/api/posts/{post['id']}/like", headers=bob.headers)
    await client.post(f"/api/posts/{post['id']}/follow", headers=bob.headers)
    assert (await client.delete(f"/api/posts/{post['id']}", headers=alice.headers)).status_code == 200
    threads = (await client.get("/api/posts/following/threads", headers=bob.headers)).json()
    assert threads["threads"] == []
    feed = (await client.get("/api/activity/feed", headers=alice.headers)).json()
    assert feed["activities"] == []


async def test_like_toggles(client, make_user, make_post, assert_error):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice)
    assert (await client.post(f"/api/posts/{post['id']}/like", headers=bob.headers)).json() == {"likes": 1,
                                                                                                 "liked": True}
    assert (await client.post(f"/api/posts/{post['id']}/like", headers=alice.headers)).json() == {"likes": 2,
                                                                                                   "liked": True}
    listed = (await client.get("/api/posts", headers=bob.headers)).json()[0]
    assert listed["likes"] == 2 and listed["liked"] is True
    assert (await client.post(f"/api/posts/{post['id']}/like", headers=bob.headers)).json() == {"likes": 1,
                                                                                                 "liked": False}
    listed = (await client.get("/api/posts", headers=bob.headers)).json()[0]
    assert listed["likes"] == 1 and listed["liked"] is False
    assert_error(await client.post("/api/posts/424242/like", headers=bob.headers), 404, "post_not_found")


@pytest.mark.parametrize("path", ["/api/posts/abc", "/api/posts/-1", "/api/posts/99999999999999999999999",
                                  "/api/posts/9223372036854775808", "/api/posts/0"])
async def test_malformed_ids_are_404(client, make_user, assert_error, path):
    alice = await make_user()
    assert_error(await client.get(path, headers=alice.headers), 404)
    assert_error(await client.post(f"{path}/like", headers=alice.headers), 404)
    assert_error(await client.post(f"{path}/comments", json={"text": "x"}, headers=alice.headers), 404)
    assert_error(await client.delete(path, headers=alice.headers), 404)
