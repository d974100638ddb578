"""Requests that race each other over real HTTP: the counts stay right and no race is a 500."""

from __future__ import annotations

import asyncio

from commonly_social.models import Post


async def test_deleting_a_comment_twice_at_once_counts_it_once(client, make_user, make_post, assert_error):
    alice = await make_user()
    post = await make_post(alice)
    url = f"/api/posts/{post['id']}/comments"
    await client.post(url, json={"text": "stays"}, headers=alice.headers)
    for _ in range(5):
        comment = (await client.post(url, json={"text": "goes"}, headers=alice.headers)).json()
        responses = await asyncio.gather(*(client.delete(f"{url}/{comment['id']}", headers=alice.headers)
                                           for _ in range(4)))
        assert sorted(response.status_code for response in responses) == [200, 404, 404, 404], \
            [response.text for response in responses]
        for response in responses:
            if response.status_code == 404:
                assert_error(response, 404, "comment_not_found")
        assert (await Post.get(id=int(post["id"]))).comment_count == 1


async def test_commenting_on_a_post_deleted_meanwhile_is_404(client, make_user, make_post, assert_error):
    alice, bob = await make_user(username="alice"), await make_user(username="bob")
    for _ in range(5):
        post = await make_post(alice)
        url = f"/api/posts/{post['id']}/comments"
        # The mention adds a read between the visibility check and the insert: a wider window.
        comments = [client.post(url, json={"text": "hi @alice"}, headers=bob.headers) for _ in range(6)]
        *answers, deleted = await asyncio.gather(
            *comments, client.delete(f"/api/posts/{post['id']}", headers=alice.headers))
        assert deleted.status_code == 200, deleted.text
        for response in answers:
            if response.status_code != 201:
                assert_error(response, 404, "post_not_found")
