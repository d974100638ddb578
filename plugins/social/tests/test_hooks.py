"""The domain hooks the social plugin fires: ``commonly_post_created`` and
``commonly_comment_created`` with the @mentions (lower-cased, existing users only)."""

from __future__ import annotations

import pytest

from commonly_kernel import hookimpl


class Recorder:
    """A test plugin that keeps what the social plugin's domain hooks tell it."""

    name = "recorder"

    def __init__(self) -> None:
        self.comments: list[tuple[str, str, list[str]]] = []
        self.posts: list[str] = []

    @hookimpl
    async def commonly_comment_created(self, comment, post, mentions):
        self.comments.append((comment.text, str(post.id), mentions))

    @hookimpl
    def commonly_post_created(self, post):
        self.posts.append(post.content)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def commonly_plugins(recorder):
    return ["auth", "social", recorder]


async def test_hooks_get_posts_and_mentions(client, make_user, recorder):
    alice = await make_user(username="Alice")
    await make_user(username="Bob_2")
    post = (await client.post("/api/posts", json={"content": "hello"}, headers=alice.headers)).json()
    text = "Hi @bob_2 and @BOB_2, @nobody here, mail me@example.com, @alice"
    response = await client.post(f"/api/posts/{post['id']}/comments", json={"text": text}, headers=alice.headers)
    assert response.status_code == 201
    assert recorder.posts == ["hello"]
    assert recorder.comments == [(text, post["id"], ["bob_2", "alice"])]


async def test_refused_writes_fire_no_hook(client, make_user, recorder):
    alice = await make_user()
    assert (await client.post("/api/posts", json={"content": ""}, headers=alice.headers)).status_code == 400
    assert (await client.post("/api/posts/1/comments", json={"text": "@x"}, headers=alice.headers)).status_code == 404
    assert recorder.posts == [] and recorder.comments == []
