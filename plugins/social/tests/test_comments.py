"""Comments and followed threads on global posts, and the mention hook."""

from __future__ import annotations


async def test_comment_and_read_it_back(client, make_user, make_post):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    post = await make_post(alice)
    response = await client.post(f"/api/posts/{post['id']}/comments", json={"text": "Nice!"}, headers=bob.headers)
    assert response.status_code == 201, response.text
    comment = response.json()
    assert comment["id"].isdigit() and comment["_id"] == comment["id"] and comment["userId"] == bob.id
    assert comment["text"] == "Nice!" and comment["replyTo"] is None and comment["postId"] == post["id"]
    assert comment["username"] == "bob" and comment["author"]["username"] == "bob"
    reply = (await client.post(f"/api/posts/{post['id']}/comments",
                               json={"text": "Thanks", "replyToCommentId": comment["id"]},
                               headers=alice.headers)).json()
    assert reply["replyTo"] == comment["id"]
    detail = (await client.get(f"/api/posts/{post['id']}", headers=bob.headers)).json()
    assert [c["text"] for c in detail["comments"]] == ["Nice!", "Thanks"] and detail["commentCount"] == 2
    listed = (await client.get("/api/posts", headers=bob.headers)).json()[0]
    assert listed["commentCount"] == 2 and "comments" not in listed


async def test_bad_comments_write_nothing(client, make_user, make_post, assert_error):
    alice = await make_user()
    post = await make_post(alice)
    other = await make_post(alice, content="other")
    other_comment = (await client.post(f"/api/posts/{other['id']}/comments", json={"text": "x"},
                                       headers=alice.headers)).json()
    url = f"/api/posts/{post['id']}/comments"
    for body in [{}, {"text": ""}, {"text": "   "}, {"text": "x" * 10_001}, {"text": 5}, {"text": "x", "extra": 1},
                 {"text": None}, {"text": "x", "replyToCommentId": 5}]:
        assert_error(await client.post(url, json=body, headers=alice.headers), 400)
    assert_error(await client.post(url, json={"text": "x", "replyToCommentId": other_comment["id"]},
                                   headers=alice.headers), 400, "invalid_reply")
    assert_error(await client.post(url, json={"text": "x", "replyToCommentId": "abc"}, headers=alice.headers), 400,
                 "invalid_reply")
    assert_error(await client.post(url, json={"text": "x", "podId": "00000000-0000-4000-8000-000000000000"},
                                   headers=alice.headers), 400, "pods_unavailable")
    assert_error(await client.post(url, content=b"{not json", headers={**alice.headers,
                                                                     "Content-Type": "application/json"}), 400)
    detail = (await client.get(f"/api/posts/{post['id']}", headers=alice.headers)).json()
    assert detail["comments"] == [] and detail["commentCount"] == 0


async def test_comment_on_missing_post_is_404(client, make_user, assert_error):
    alice = await make_user()
    assert_error(await client.post("/api/posts/12345/comments", json={"text": "x"}, headers=alice.headers), 404,
                 "post_not_found")


async def test_delete_comment_rules(client, make_user, make_post, assert_error):
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    admin = await make_user(role="admin")
    post = await make_post(alice)
    url = f"/api/posts/{post['id']}/comments"
    ids = [(await client.post(url, json={"text": f"c{n}"}, headers=bob.headers)).json()["id"] for n in range(3)]
    assert_error(await client.delete(f"{url}/{ids[0]}", headers=carol.headers), 403)
    assert (await client.delete(f"{url}/{ids[0]}", headers=bob.headers)).json() == {"message": "Comment deleted."}
    assert (await client.delete(f"{url}/{ids[1]}", headers=alice.headers)).status_code == 200
    assert (await client.delete(f"{url}/{ids[2]}", headers=admin.headers)).status_code == 200
    assert_error(await client.delete(f"{url}/{ids[2]}", headers=bob.headers), 404, "comment_not_found")
    assert_error(await client.delete(f"{url}/abc", headers=bob.headers), 404)
    detail = (await client.get(f"/api/posts/{post['id']}", headers=alice.headers)).json()
    assert detail["comments"] == [] and detail["commentCount"] == 0


async def test_follow_threads_is_idempotent_and_counts_new_replies(client, make_user, make_post, assert_error):
    alice, bob = await make_user(), await make_user()
    post = await make_post(alice, content="thread")
    url = f"/api/posts/{post['id']}"
    await client.post(f"{url}/comments", json={"text": "before following"}, headers=alice.headers)
    for _ in range(2):
        response = await client.post(f"{url}/follow", headers=bob.headers)
        assert response.json() == {"success": True, "followed": True}
    threads = (await client.get("/api/posts/following/threads", headers=bob.headers)).json()
    assert threads["hasMore"] is False and threads["nextCursor"] is None
    [thread] = threads["threads"]
    assert thread["id"] == post["id"] and thread["followedAt"] and thread["newReplies"] == 0
    await client.post(f"{url}/comments", json={"text": "one"}, headers=alice.headers)
    await client.post(f"{url}/comments", json={"text": "two"}, headers=alice.headers)
    await client.post(f"{url}/comments", json={"text": "mine"}, headers=bob.headers)
    [thread] = (await client.get("/api/posts/following/threads", headers=bob.headers)).json()["threads"]
    assert thread["newReplies"] == 2 and thread["commentCount"] == 4
    await client.get(url, headers=bob.headers)  # reading the thread clears its new replies
    [thread] = (await client.get("/api/posts/following/threads", headers=bob.headers)).json()["threads"]
    assert thread["newReplies"] == 0
    for _ in range(2):
        response = await client.delete(f"{url}/follow", headers=bob.headers)
        assert response.json() == {"success": True, "followed": False}
    assert (await client.get("/api/posts/following/threads", headers=bob.headers)).json()["threads"] == []
    assert_error(await client.post("/api/posts/777777/follow", headers=bob.headers), 404)


async def test_followed_threads_page(client, make_user, make_post, assert_error):
    alice = await make_user()
    posts = [await make_post(alice, content=f"t{n}") for n in range(3)]
    for post in posts:
        await client.post(f"/api/posts/{post['id']}/follow", headers=alice.headers)
    page = (await client.get("/api/posts/following/threads", params={"limit": 2}, headers=alice.headers)).json()
    assert [t["id"] for t in page["threads"]] == [posts[2]["id"], posts[1]["id"]]
    assert page["hasMore"] is True and page["nextCursor"] == posts[1]["id"]
    rest = (await client.get("/api/posts/following/threads", params={"limit": 2, "before": page["nextCursor"]},
                             headers=alice.headers)).json()
    assert [t["id"] for t in rest["threads"]] == [posts[0]["id"]] and rest["hasMore"] is False
    assert_error(await client.get("/api/posts/following/threads", params={"before": "5555"},
                                  headers=alice.headers), 400)
