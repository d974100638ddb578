"""People: the directory, profiles, profile changes, following, public activity."""

from __future__ import annotations

import uuid

MISSING = "00000000-0000-4000-8000-000000000000"


async def test_directory_search_and_cursor(client, make_user, assert_error):
    me = await make_user(username="me")
    for name in ["anna", "annabel", "bob"]:
        await make_user(username=name)
    everyone = await client.get("/api/users", headers=me.headers)
    assert everyone.status_code == 200
    assert [user["username"] for user in everyone.json()] == ["bob", "annabel", "anna", "me"]
    assert all("email" not in user and user["_id"] == user["id"] for user in everyone.json())
    found = (await client.get("/api/users", params={"q": "ANN"}, headers=me.headers)).json()
    assert [user["username"] for user in found] == ["annabel", "anna"]
    page = await client.get("/api/users", params={"limit": 2}, headers=me.headers)
    assert [user["username"] for user in page.json()] == ["bob", "annabel"]
    rest = await client.get("/api/users", params={"limit": 2, "before": page.headers["X-Next-Cursor"]},
                            headers=me.headers)
    assert [user["username"] for user in rest.json()] == ["anna", "me"] and "X-Next-Cursor" not in rest.headers
    assert_error(await client.get("/api/users", params={"before": "nope"}, headers=me.headers), 400)
    assert_error(await client.get("/api/users", params={"limit": 0}, headers=me.headers), 400)


async def test_profile_email_only_for_self_and_admin(client, make_user, assert_error):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    admin = await make_user(username="root", role="admin")
    own = (await client.get(f"/api/users/{alice.id}", headers=alice.headers)).json()
    assert own["email"] == alice.email and own["_id"] == alice.id
    assert own["followersCount"] == 0 and own["followingCount"] == 0 and own["isFollowing"] is False
    assert "email" not in (await client.get(f"/api/users/{alice.id}", headers=bob.headers)).json()
    assert (await client.get(f"/api/users/{alice.id}", headers=admin.headers)).json()["email"] == alice.email
    assert_error(await client.get(f"/api/users/{MISSING}", headers=bob.headers), 404, "user_not_found")
    assert_error(await client.get("/api/users/not-a-uuid", headers=bob.headers), 404)
    assert "passwordHash" not in own


async def test_follow_people(client, make_user, assert_error):
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    for _ in range(2):
        response = await client.post(f"/api/users/{bob.id}/follow", headers=alice.headers)
        assert response.json() == {"success": True, "following": True, "followersCount": 1}
    await client.post(f"/api/users/{bob.id}/follow", headers=carol.headers)
    profile = (await client.get(f"/api/users/{bob.id}", headers=alice.headers)).json()
    assert profile["followersCount"] == 2 and profile["followingCount"] == 0 and profile["isFollowing"] is True
    mine = (await client.get(f"/api/users/{alice.id}", headers=alice.headers)).json()
    assert mine["followingCount"] == 1
    assert_error(await client.post(f"/api/users/{alice.id}/follow", headers=alice.headers), 400, "cannot_follow_self")
    assert_error(await client.post(f"/api/users/{MISSING}/follow", headers=alice.headers), 404)
    for _ in range(2):
        response = await client.delete(f"/api/users/{bob.id}/follow", headers=alice.headers)
        assert response.json() == {"success": True, "following": False, "followersCount": 1}
    assert (await client.get(f"/api/users/{bob.id}", headers=alice.headers)).json()["isFollowing"] is False


async def test_follow_is_told_once_and_privately(client, make_user):
    alice, bob, carol = await make_user(username="alice"), await make_user(), await make_user()
    await client.post(f"/api/users/{alice.id}/follow", headers=carol.headers)  # carol sees alice's public acts
    for _ in range(2):
        await client.post(f"/api/users/{bob.id}/follow", headers=alice.headers)
    await client.delete(f"/api/users/{bob.id}/follow", headers=alice.headers)
    feed = (await client.get("/api/activity/feed", headers=bob.headers)).json()
    [item] = feed["activities"]
    assert item["type"] == "follow" and item["visibility"] == "private"
    assert item["actor"] == {"id": alice.id, "name": "alice", "type": "human"}
    assert (await client.get("/api/activity/feed", headers=carol.headers)).json()["activities"] == []
    [told] = (await client.get("/api/activity/feed", headers=alice.headers)).json()["activities"]
    assert told["type"] == "follow" and told["actor"]["id"] == carol.id


async def test_update_own_profile(client, make_user, assert_error):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    response = await client.put(f"/api/users/{alice.id}", json={"bio": "hi", "avatar": "https://x.test/a.png",
                                                                "interests": ["ai", " "], "username": "Alice2"},
                                headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bio"] == "hi" and body["profilePicture"] == "https://x.test/a.png"
    assert body["interests"] == ["ai"] and body["username"] == "Alice2" and body["email"] == alice.email
    # the change is visible at once through the token (the auth cache was told)
    assert (await client.get("/api/auth/user", headers=alice.headers)).json()["username"] == "Alice2"
    post = (await client.post("/api/posts", json={"content": "x"}, headers=alice.headers)).json()
    assert post["username"] == "Alice2" and post["author"]["profilePicture"] == "https://x.test/a.png"
    assert_error(await client.put(f"/api/users/{alice.id}", json={"bio": "x"}, headers=bob.headers), 403)
    assert_error(await client.put(f"/api/users/{alice.id}", json={"username": "BOB"}, headers=alice.headers), 409,
                 "username_taken")
    for bad in [{"username": "a"}, {"username": "no spaces"}, {"username": "x" * 51}, {"bio": 5},
                {"email": "x@example.com"}, {"role": "admin"}, {"bio": None}, {"interests": "ai"},
                {"avatar": "a", "profilePicture": "b"}]:
        assert_error(await client.put(f"/api/users/{alice.id}", json=bad, headers=alice.headers), 400)
    profile = (await client.get(f"/api/users/{alice.id}", headers=alice.headers)).json()
    assert profile["username"] == "Alice2" and profile["bio"] == "hi" and profile["role"] == "user"


async def test_user_posts_and_public_activity(client, make_user, make_post, assert_error):
    alice, bob = await make_user(), await make_user()
    ids = [(await make_post(alice, content=f"a{n}"))["id"] for n in range(10)]
    await make_post(bob, content="bob's")
    response = await client.get(f"/api/users/{alice.id}/posts", params={"limit": 4}, headers=bob.headers)
    assert [post["id"] for post in response.json()] == ids[::-1][:4]
    assert response.headers["X-Next-Cursor"] == ids[6]
    activity = (await client.get(f"/api/users/{alice.id}/public-activity", headers=bob.headers)).json()
    assert [post["id"] for post in activity["recentPublicPosts"]] == ids[::-1][:8]
    assert activity["joinedPods"] == []
    assert_error(await client.get(f"/api/users/{uuid.uuid4()}/posts", headers=bob.headers), 404)
    assert_error(await client.get(f"/api/users/{uuid.uuid4()}/public-activity", headers=bob.headers), 404)
