"""``Idempotency-Key`` on message posts: a retry returns the first message, a reuse for another
message is 422, keys belong to their sender."""

from __future__ import annotations

import asyncio

from commonly_pods.models import IdempotencyKey, Message


async def test_same_key_returns_the_first_message_once(client, make_user, make_pod, hooks, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    url = f"/api/pods/{pod['id']}/messages"
    headers = {**alice.headers, "Idempotency-Key": "retry-1"}
    body = {"content": "exactly once", "attachments": ["https://example.com/x"]}

    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201
    for _ in range(2):
        again = await client.post(url, json=body, headers=headers)
        assert again.status_code == 200
        assert again.json() == first.json()
    # the alias is the same route: {text} with the same content is the same request
    alias = await client.post(f"/api/messages/{pod['id']}", json={"text": "plain", "attachments": []},
                              headers={**alice.headers, "Idempotency-Key": "retry-2"})
    assert alias.status_code == 201
    replay = await client.post(url, json={"content": "plain"}, headers={**alice.headers, "Idempotency-Key": "retry-2"})
    assert (replay.status_code, replay.json()) == (200, alias.json())

    assert await Message.filter(pod_id=pod["id"]).count() == 2
    assert await IdempotencyKey.all().count() == 2
    assert hooks.of("message_created") == [(first.json()["id"], pod["id"], "exactly once"),
                                           (alias.json()["id"], pod["id"], "plain")]
    listed = (await client.get(url, headers=alice.headers)).json()
    assert [message["id"] for message in listed] == [first.json()["id"], alias.json()["id"]]

    # concurrent retries of one request: one message, every answer names it
    concurrent = await asyncio.gather(*[
        client.post(url, json={"content": "racing"}, headers={**alice.headers, "Idempotency-Key": "race"})
        for _ in range(5)
    ])
    answered = [response for response in concurrent if response.status_code in (200, 201)]
    assert all(response.status_code in (200, 201, 409) for response in concurrent)
    for response in concurrent:
        if response.status_code == 409:
            assert_error(response, 409, "idempotency_in_progress")
    assert len({response.json()["id"] for response in answered}) == 1
    assert await Message.filter(pod_id=pod["id"], content="racing").count() == 1
    assert len(hooks.of("message_created")) == 3


async def test_same_key_for_another_message_is_422(client, make_user, make_pod, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    other = await make_pod(alice, name="other")
    url = f"/api/pods/{pod['id']}/messages"
    headers = {**alice.headers, "Idempotency-Key": "k"}
    first = await client.post(url, json={"content": "one"}, headers=headers)
    assert first.status_code == 201
    for changed in ({"content": "two"}, {"content": "one", "attachments": ["https://example.com/a"]},
                    {"content": "one", "replyToMessageId": first.json()["id"]}):
        assert_error(await client.post(url, json=changed, headers=headers), 422, "idempotency_key_reused")
    # the same body to another pod is another request too
    assert_error(await client.post(f"/api/pods/{other['id']}/messages", json={"content": "one"}, headers=headers),
                 422, "idempotency_key_reused")
    assert await Message.all().count() == 1
    assert (await client.post(url, json={"content": "one"}, headers=headers)).status_code == 200


async def test_keys_belong_to_their_sender(client, make_user, make_pod, join_pod):
    alice = await make_user()
    bob = await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    url = f"/api/pods/{pod['id']}/messages"
    mine = await client.post(url, json={"content": "same"}, headers={**alice.headers, "Idempotency-Key": "shared"})
    theirs = await client.post(url, json={"content": "same"}, headers={**bob.headers, "Idempotency-Key": "shared"})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert (mine.json()["userId"], theirs.json()["userId"]) == (alice.id, bob.id)
    # a different body from bob under the same key is bob's own reuse question, not alice's
    other = await client.post(url, json={"content": "bob's"}, headers={**bob.headers, "Idempotency-Key": "fresh"})
    assert other.status_code == 201
    assert await Message.filter(pod_id=pod["id"]).count() == 3


async def test_key_length_and_deleted_messages(client, make_user, make_pod, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    url = f"/api/pods/{pod['id']}/messages"
    for key in ("x" * 256, ""):
        response = await client.post(url, json={"content": "hi"}, headers={**alice.headers, "Idempotency-Key": key})
        assert_error(response, 400, "validation_error")
    assert await Message.all().count() == 0
    longest = {**alice.headers, "Idempotency-Key": "x" * 255}
    first = await client.post(url, json={"content": "hi"}, headers=longest)
    assert first.status_code == 201
    assert (await client.post(url, json={"content": "hi"}, headers=longest)).status_code == 200
    # once the message is deleted, its key goes with it: the retry posts anew instead of failing
    assert (await client.delete(f"{url}/{first.json()['id']}", headers=alice.headers)).status_code == 200
    assert await IdempotencyKey.all().count() == 0
    again = await client.post(url, json={"content": "hi"}, headers=longest)
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
