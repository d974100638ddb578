"""Messages: posting (both routes and the aliases), the wire shape, cursors and paging in both
directions, deletion, and the message-created hook."""

from __future__ import annotations

import commonly_pods
import pytest
from commonly_pods.models import Message

from commonly_kernel import Actor, NotFound


def ids(messages: list[dict]) -> list[int]:
    return [message["id"] for message in messages]


async def test_post_and_list_messages(client, make_user, make_agent, make_pod, seat, hooks, assert_error):
    alice = await make_user()
    agent = await make_agent(scopes=("messages:write",))
    pod = await make_pod(alice)
    other = await make_pod(alice, name="other")
    await seat(agent, pod)
    url = f"/api/pods/{pod['id']}/messages"

    response = await client.post(url, json={"content": "hello"}, headers=alice.headers)
    assert response.status_code == 201
    first = response.json()
    assert isinstance(first["id"], int) and first["_id"] == first["id"]
    assert (first["podId"], first["userId"], first["content"], first["messageType"]) == (pod["id"], alice.id,
                                                                                       "hello", "text")
    assert first["attachments"] == [] and first["replyToMessageId"] is None and first["createdAt"].endswith("Z")
    assert first["author"] == {"id": alice.id, "_id": alice.id, "username": alice.username,
                               "profilePicture": first["author"]["profilePicture"], "isBot": False}
    assert (first["username"], first["isBot"]) == (alice.username, False)

    reply = (await client.post(url, json={"content": "hi alice", "replyToMessageId": first["id"]},
                               headers=agent.headers)).json()
    assert reply["replyToMessageId"] == first["id"] and reply["id"] > first["id"]
    assert (reply["username"], reply["isBot"], reply["author"]["isBot"]) == (agent.user.username, True, True)
    attached = (await client.post(url, json={"attachments": ["https://example.com/a.png"]},
                                  headers=alice.headers)).json()
    assert attached["content"] == "" and attached["attachments"] == ["https://example.com/a.png"]

    # the original clients' aliases: {content} or {text}
    alias = f"/api/messages/{pod['id']}"
    by_text = await client.post(alias, json={"text": "via text"}, headers=alice.headers)
    by_content = await client.post(alias, json={"content": "via content"}, headers=alice.headers)
    assert (by_text.status_code, by_content.status_code) == (201, 201)
    assert (by_text.json()["content"], by_content.json()["content"]) == ("via text", "via content")
    assert_error(await client.post(alias, json={}, headers=alice.headers), 400, "validation_error")
    assert_error(await client.post(alias, json={"text": "  "}, headers=alice.headers), 400, "validation_error")

    listed = await client.get(url, headers=agent.headers)
    assert listed.status_code == 200 and "X-Next-Cursor" not in listed.headers
    everything = [first, reply, attached, by_text.json(), by_content.json()]
    assert listed.json() == everything
    assert (await client.get(alias, headers=alice.headers)).json() == everything
    assert hooks.of("message_created") == [(message["id"], pod["id"], message["content"]) for message in everything]

    # refusals store nothing and fire nothing
    foreign = (await client.post(f"/api/pods/{other['id']}/messages", json={"content": "elsewhere"},
                                 headers=alice.headers)).json()
    assert_error(await client.post(url, json={"content": "x", "replyToMessageId": foreign["id"]},
                                   headers=alice.headers), 400, "invalid_reply")
    assert_error(await client.post(url, json={"content": "x", "replyToMessageId": 10**12}, headers=alice.headers),
                 400, "invalid_reply")
    limited = agent.with_scopes("context:read")
    body = assert_error(await client.post(url, json={"content": "x"}, headers=limited.headers), 403, "missing_scope")
    assert body["details"] == {"missing": ["messages:write"]}
    assert await Message.filter(pod_id=pod["id"]).count() == 5
    assert len(hooks.of("message_created")) == 6


async def test_paging_backward_and_forward_without_gaps(client, make_user, make_pod, post_message):
    alice = await make_user()
    pod = await make_pod(alice)
    posted = [(await post_message(alice, pod, f"m{number}"))["id"] for number in range(1, 8)]
    url = f"/api/pods/{pod['id']}/messages"

    async def page(**params) -> tuple[list[int], str | None]:
        response = await client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return ids(response.json()), response.headers.get("X-Next-Cursor")

    # backward from the newest: each page oldest first, the cursor its oldest id
    assert await page(limit=3) == (posted[4:7], str(posted[4]))
    assert await page(limit=3, before=posted[4]) == (posted[1:4], str(posted[1]))
    assert await page(limit=3, before=posted[1]) == (posted[:1], None)
    assert await page(limit=7) == (posted, None)
    # forward from the start (how the CLI tails a pod): the cursor is the page's newest id
    assert await page(limit=3, after=0) == (posted[:3], str(posted[2]))
    assert await page(limit=3, after=posted[2]) == (posted[3:6], str(posted[5]))
    assert await page(limit=3, after=posted[5]) == (posted[6:], None)
    assert await page(after=posted[6]) == ([], None)
    newer = (await post_message(alice, pod, "m8"))["id"]
    assert await page(limit=3, after=posted[6]) == ([newer], None)
    assert await page(limit=3, after=posted[5]) == ([posted[6], newer], None)
    assert await page(limit=3, before=posted[0]) == ([], None)
    assert await page(limit=2, before=newer) == (posted[5:7], str(posted[5]))


async def test_limit_default_and_clamps(client, make_user, make_pod):
    alice = await make_user()
    pod = await make_pod(alice)
    await Message.bulk_create([Message(pod_id=pod["id"], user_id=alice.id, content=f"bulk {number}")
                               for number in range(205)])
    url = f"/api/pods/{pod['id']}/messages"

    async def count(**params) -> tuple[int, bool]:
        response = await client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return len(response.json()), "X-Next-Cursor" in response.headers

    assert await count() == (50, True)
    assert await count(limit=500) == (200, True)
    assert await count(limit=0) == (1, True)
    assert await count(limit=-7) == (1, True)
    assert await count(limit=205) == (200, True)
    assert await count(limit=500, after=0) == (200, True)
    newest = (await client.get(url, params={"limit": 1}, headers=alice.headers)).json()
    assert newest[0]["content"] == "bulk 204"


BAD_QUERIES = [
    {"before": 3, "after": 1}, {"before": "abc"}, {"before": 0}, {"before": -1}, {"before": 2**63},
    {"after": -1}, {"after": "1.5"}, {"after": 2**64}, {"limit": "abc"}, {"limit": ""},
]


async def test_bad_cursor_values_are_400(client, make_user, make_pod, post_message, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    await post_message(alice, pod)
    for params in BAD_QUERIES:
        for path in (f"/api/pods/{pod['id']}/messages", f"/api/messages/{pod['id']}"):
            body = assert_error(await client.get(path, params=params, headers=alice.headers), 400, "validation_error")
            assert body["message"], params


async def test_delete_message(client, make_user, make_pod, join_pod, post_message, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    carol = await make_user()
    pod = await make_pod(alice)
    other = await make_pod(alice, name="other")
    for user in (bob, carol):
        await join_pod(user, pod)
    url = f"/api/pods/{pod['id']}/messages"
    own, by_admin, by_root, kept = [(await post_message(bob, pod, text))["id"] for text in "abcd"]
    elsewhere = (await post_message(alice, other))["id"]

    response = await client.delete(f"{url}/{own}", headers=bob.headers)
    assert response.status_code == 200 and response.json() == {"message": "Message deleted."}
    assert_error(await client.delete(f"{url}/{kept}", headers=carol.headers), 403, "not_allowed")
    assert (await client.delete(f"{url}/{by_admin}", headers=alice.headers)).status_code == 200
    assert (await client.delete(f"{url}/{by_root}", headers=root.headers)).status_code == 200
    assert_error(await client.delete(f"{url}/{own}", headers=bob.headers), 404, "message_not_found")
    # another pod's message is not this pod's
    assert_error(await client.delete(f"{url}/{elsewhere}", headers=alice.headers), 404, "message_not_found")
    for impossible in ("0", "-1", "abc", "1.5", str(2**63), str(2**64), "9" * 40, "%20"):
        assert_error(await client.delete(f"{url}/{impossible}", headers=alice.headers), 404, "message_not_found")
    assert ids((await client.get(url, headers=carol.headers)).json()) == [kept]
    assert await Message.filter(id=elsewhere).exists()


@pytest.mark.parametrize("idempotency_key", [None, "late-key"])
async def test_posting_in_a_pod_deleted_since_it_was_loaded_is_404(app, client, make_user, make_pod, hooks,
                                                                   idempotency_key):
    """Another plugin (or a socket handler) loaded the pod, then it was deleted: 404
    ``pod_not_found``, never a 500, nothing stored, no hook."""
    alice = await make_user()
    pod = await make_pod(alice)
    loaded = await commonly_pods.get_pod(pod["id"])
    assert (await client.delete(f"/api/pods/{pod['id']}", headers=alice.headers)).status_code == 200
    with pytest.raises(NotFound) as refused:
        await commonly_pods.post_message(app.kernel, loaded, Actor(id=alice.id, username=alice.username), "late",
                                         idempotency_key=idempotency_key)
    assert refused.value.code == "pod_not_found"
    assert await Message.all().count() == 0 and hooks.of("message_created") == []
