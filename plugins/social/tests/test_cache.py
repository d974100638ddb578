"""The per-process response cache of the post list and the feed: every change is seen at once."""

from __future__ import annotations

import pytest


async def ids(client, user, **params):
    response = await client.get("/api/posts", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return [post["id"] for post in response.json()]


async def test_writes_are_seen_at_once(client, make_user, make_post):
    alice, bob = await make_user(), await make_user()
    assert await ids(client, alice) == []
    post = await make_post(bob)
    assert await ids(client, alice) == [post["id"]]
    await client.post(f"/api/posts/{post['id']}/like", headers=alice.headers)
    listed = (await client.get("/api/posts", headers=alice.headers)).json()[0]
    assert listed["likes"] == 1 and listed["liked"] is True
    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "x"}, headers=alice.headers)
    assert (await client.get("/api/posts", headers=alice.headers)).json()[0]["commentCount"] == 1
    await client.put(f"/api/posts/{post['id']}", json={"content": "edited"}, headers=bob.headers)
    assert (await client.get("/api/posts", headers=alice.headers)).json()[0]["content"] == "edited"
    await client.put(f"/api/users/{bob.id}", json={"username": "renamed"}, headers=bob.headers)
    assert (await client.get("/api/posts", headers=alice.headers)).json()[0]["username"] == "renamed"
    await client.delete(f"/api/posts/{post['id']}", headers=bob.headers)
    assert await ids(client, alice) == []


async def test_each_caller_and_query_has_its_own_page(client, make_user, make_post):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice, category="News")
    await client.post(f"/api/posts/{post['id']}/like", headers=alice.headers)
    mine = (await client.get("/api/posts", headers=alice.headers)).json()[0]
    theirs = (await client.get("/api/posts", headers=bob.headers)).json()[0]
    assert mine["liked"] is True and theirs["liked"] is False
    assert await ids(client, alice, category="Other") == []
    assert await ids(client, alice, category="News") == [post["id"]]


async def test_feed_and_unread_follow_changes(client, make_user, make_post):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice)
    assert (await client.get("/api/activity/unread-count", headers=alice.headers)).json() == {"unreadCount": 0}
    await client.post(f"/api/posts/{post['id']}/comments", json={"text": "hi"}, headers=bob.headers)
    assert (await client.get("/api/activity/unread-count", headers=alice.headers)).json() == {"unreadCount": 1}
    feed = (await client.get("/api/activity/feed", headers=alice.headers)).json()
    assert feed["unreadCount"] == 1 and feed["activities"][0]["read"] is False
    await client.post("/api/activity/mark-read", json={"all": True}, headers=alice.headers)
    feed = (await client.get("/api/activity/feed", headers=alice.headers)).json()
    assert feed["unreadCount"] == 0 and feed["activities"][0]["read"] is True


async def test_the_cached_body_is_gzipped_for_clients_that_accept_it(client, make_user, make_post):
    alice = await make_user()
    for n in range(10):
        await make_post(alice, content=f"a fairly long post body number {n} " * 5)
    for _ in range(2):  # the second answer comes from the cache
        response = await client.get("/api/posts", headers={**alice.headers, "Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in response.headers["Vary"]
        assert len(response.json()) == 10
    plain = await client.get("/api/posts", headers={**alice.headers, "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and len(plain.json()) == 10


@pytest.mark.parametrize("seconds", ["0", "10"])
async def test_cache_setting(make_app, seconds):
    import httpx

    from commonly_kernel.testing import serve

    async with serve(make_app(COMMONLY_SOCIAL_CACHE_SECONDS=seconds)) as server:
        assert server.app.kernel.quart.extensions["commonly_social"].ttl == float(seconds)
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/api/posts")
            assert response.status_code == 401
