"""The pods plugin over socket.io (spec: pods.md, "Realtime"): authenticated connections, pod
rooms for members only, chat in both directions (``message`` and its alias ``sendMessage``; the
room hears ``message`` and ``newMessage``), typing, presence, notifications to ``user:<id>``, and
removed members leaving the room.

Each socket collects the events named in ``EVENTS`` in ``.received``. To check that an event does
NOT arrive, a later marker that must arrive (on the same socket) is awaited first: the server
writes a socket's events in order, so anything sent before the marker would be there already.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import commonly_pods
import httpx
import pytest
import socketio

from commonly_kernel.testing import wait_for

EVENTS = ("message", "newMessage", "podPresence", "typing", "notification", "error", "messageDeleted")

Connect = Callable[..., Awaitable[socketio.AsyncClient]]


def of(sio: socketio.AsyncClient, event: str) -> list[Any]:
    """The payloads of one event a socket received, in order."""
    return [data for name, data in sio.received if name == event]


def with_content(sio: socketio.AsyncClient, event: str, content: str) -> list[dict[str, Any]]:
    return [data for data in of(sio, event) if data.get("content") == content]


@pytest.fixture
def connect(connect_socket: Connect) -> Connect:
    """``await connect(user)``: a socket of ``user`` collecting ``EVENTS``."""

    async def open_socket(user: Any) -> socketio.AsyncClient:
        return await connect_socket(user.token, events=EVENTS)

    return open_socket


async def joined(sio: socketio.AsyncClient, pod: dict[str, Any]) -> None:
    ack = await sio.call("joinPod", pod["id"], timeout=5)
    assert ack == {"ok": True, "podId": pod["id"]}, ack


async def stored(client: httpx.AsyncClient, user: Any, pod: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"/api/pods/{pod['id']}/messages", params={"limit": 200}, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def check_error_ack(ack: Any, code: str) -> None:
    assert isinstance(ack, dict), ack
    assert ack["error"] == code, ack
    assert isinstance(ack["message"], str) and ack["message"], ack


async def marker(sio: socketio.AsyncClient, live_server: Any, user: Any, text: str) -> None:
    """Send ``user`` a notification and wait until ``sio`` (one of their sockets) has it."""
    await commonly_pods.notify_user(live_server.app.kernel, user.id, {"type": "marker", "text": text})
    await wait_for(lambda: {"type": "marker", "text": text} in of(sio, "notification"))


# -- connecting ------------------------------------------------------------------------------------


async def test_connect_needs_a_valid_token(connect_socket: Connect, make_user: Any) -> None:
    alice = await make_user()
    for token in ("not-a-token", alice.token + "x", None):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect_socket(token)
    sio = await connect_socket(alice.token)
    assert sio.connected


# -- rooms -----------------------------------------------------------------------------------------


async def test_join_pod_members_only(connect: Connect, make_user: Any, make_pod: Any, join_pod: Any) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    open_pod = await make_pod(alice, name="Open")
    private_pod = await make_pod(alice, name="Private", joinPolicy="invite-only")
    await join_pod(bob, open_pod)

    # Members (the creator, and one who joined over REST); the id may also come as {podId}.
    sio_alice, sio_bob, sio_carol = await connect(alice), await connect(bob), await connect(carol)
    await joined(sio_alice, open_pod)
    assert await sio_bob.call("joinPod", {"podId": open_pod["id"]}, timeout=5) == {"ok": True,
                                                                                 "podId": open_pod["id"]}
    await joined(sio_alice, private_pod)

    # A non-member of an open pod: 403-like refusal; of an invite-only pod: as if it did not exist.
    check_error_ack(await sio_carol.call("joinPod", open_pod["id"], timeout=5), "not_a_member")
    check_error_ack(await sio_carol.call("joinPod", private_pod["id"], timeout=5), "pod_not_found")
    check_error_ack(await sio_carol.call("joinPod", "not-a-pod-id", timeout=5), "pod_not_found")
    check_error_ack(await sio_carol.call("joinPod", None, timeout=5), "pod_not_found")
    await wait_for(lambda: len(of(sio_carol, "error")) == 4)
    errors = of(sio_carol, "error")
    assert [error["error"] for error in errors] == ["not_a_member", "pod_not_found", "pod_not_found",
                                                    "pod_not_found"]
    assert all(error["message"] and error["event"] == "joinPod" for error in errors)

    # The refused socket is in no room: a message in the open pod does not reach it.
    await sio_alice.call("message", {"podId": open_pod["id"], "content": "members only"}, timeout=5)
    await wait_for(lambda: with_content(sio_bob, "message", "members only"))
    await sio_carol.call("joinPod", open_pod["id"], timeout=5)  # a later answer on carol's socket
    assert not of(sio_carol, "message") and not of(sio_carol, "newMessage")


async def test_leave_pod_stops_delivery(connect: Connect, live_server: Any, make_user: Any, make_pod: Any,
                                        join_pod: Any) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_alice, sio_bob = await connect(alice), await connect(bob)
    await joined(sio_alice, pod)
    await joined(sio_bob, pod)

    assert await sio_bob.call("leavePod", pod["id"], timeout=5) == {"ok": True, "podId": pod["id"]}
    assert await sio_bob.call("leavePod", pod["id"], timeout=5) == {"ok": True, "podId": pod["id"]}  # idempotent
    await sio_alice.call("message", {"podId": pod["id"], "content": "after bob left"}, timeout=5)
    await wait_for(lambda: with_content(sio_alice, "message", "after bob left"))
    await marker(sio_bob, live_server, bob, "after-leave")
    assert not with_content(sio_bob, "message", "after bob left")
    # Still a member: joining again works and delivers again.
    await joined(sio_bob, pod)
    await sio_alice.call("message", {"podId": pod["id"], "content": "bob is back"}, timeout=5)
    await wait_for(lambda: with_content(sio_bob, "message", "bob is back"))


# -- messages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["message", "sendMessage"])
async def test_socket_message_is_stored_broadcast_and_hooked_once(
    event: str, connect: Connect, client: httpx.AsyncClient, make_user: Any, make_pod: Any, join_pod: Any,
    hooks: Any,
) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_alice, sio_bob = await connect(alice), await connect(bob)
    await joined(sio_alice, pod)
    await joined(sio_bob, pod)

    ack = await sio_alice.call(event, {"podId": pod["id"], "content": "hello over socket.io"}, timeout=5)
    assert isinstance(ack["id"], int) and ack["_id"] == ack["id"], ack
    assert ack["content"] == "hello over socket.io"
    assert ack["podId"] == pod["id"] and ack["userId"] == alice.id
    assert ack["username"] == alice.username and ack["isBot"] is False
    assert ack["author"]["id"] == alice.id and ack["author"]["username"] == alice.username
    assert ack["messageType"] == "text" and ack["attachments"] == [] and ack["replyToMessageId"] is None

    # A reply (the alias also accepts {text}), then a marker: every earlier event is in by then.
    reply = await sio_bob.call(event, {"podId": pod["id"], "text": "a reply", "replyToMessageId": ack["id"]},
                               timeout=5)
    assert reply["replyToMessageId"] == ack["id"] and reply["content"] == "a reply", reply
    await sio_alice.call(event, {"podId": pod["id"], "content": "marker"}, timeout=5)
    for sio in (sio_alice, sio_bob):  # the sender is in the room too
        await wait_for(lambda sio=sio: with_content(sio, "newMessage", "marker"))
        for name in ("message", "newMessage"):
            assert with_content(sio, name, "hello over socket.io") == [ack], name
            assert with_content(sio, name, "a reply") == [reply], name

    listed = await stored(client, bob, pod)
    assert [message["content"] for message in listed] == ["hello over socket.io", "a reply", "marker"]
    assert listed[0]["id"] == ack["id"] and listed[1]["id"] == reply["id"]
    assert listed[0]["createdAt"] == ack["createdAt"]
    assert hooks.of("message_created") == [(message["id"], pod["id"], message["content"]) for message in listed]


async def test_rest_post_reaches_sockets(connect: Connect, client: httpx.AsyncClient, make_user: Any,
                                         make_pod: Any, join_pod: Any, post_message: Any, hooks: Any) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_bob = await connect(bob)
    await joined(sio_bob, pod)

    posted = await post_message(alice, pod, "posted over REST")
    await wait_for(lambda: with_content(sio_bob, "newMessage", "posted over REST"))
    await post_message(alice, pod, "marker")
    await wait_for(lambda: with_content(sio_bob, "newMessage", "marker"))
    for name in ("message", "newMessage"):
        [delivered] = with_content(sio_bob, name, "posted over REST")
        assert delivered == posted, (delivered, posted)

    # The original clients' alias is the same path in.
    response = await client.post(f"/api/messages/{pod['id']}", json={"text": "via the alias"}, headers=alice.headers)
    assert response.status_code == 201, response.text
    await wait_for(lambda: with_content(sio_bob, "newMessage", "via the alias"))
    assert with_content(sio_bob, "message", "via the alias") == [response.json()]

    # An idempotent retry is not sent again.
    headers = {**alice.headers, "Idempotency-Key": "retry-1"}
    first = await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "once"}, headers=headers)
    again = await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    await post_message(alice, pod, "last marker")
    await wait_for(lambda: with_content(sio_bob, "newMessage", "last marker"))
    assert len(with_content(sio_bob, "message", "once")) == 1
    assert len(with_content(sio_bob, "newMessage", "once")) == 1

    contents = [message["content"] for message in await stored(client, bob, pod)]
    assert contents == ["posted over REST", "marker", "via the alias", "once", "last marker"]
    assert [content for _, _, content in hooks.of("message_created")] == contents


async def test_non_member_cannot_send(connect: Connect, client: httpx.AsyncClient, make_user: Any,
                                      make_pod: Any, hooks: Any) -> None:
    alice, mallory = await make_user(), await make_user()
    open_pod = await make_pod(alice, name="Open")
    private_pod = await make_pod(alice, name="Private", joinPolicy="invite-only")
    sio_alice, sio_mallory = await connect(alice), await connect(mallory)
    await joined(sio_alice, open_pod)
    await joined(sio_alice, private_pod)

    for event in ("message", "sendMessage"):
        ack = await sio_mallory.call(event, {"podId": open_pod["id"], "content": "let me in"}, timeout=5)
        check_error_ack(ack, "not_a_member")
        ack = await sio_mallory.call(event, {"podId": private_pod["id"], "content": "let me in"}, timeout=5)
        check_error_ack(ack, "pod_not_found")
    await wait_for(lambda: len(of(sio_mallory, "error")) == 4)
    assert [error["error"] for error in of(sio_mallory, "error")] == ["not_a_member", "pod_not_found"] * 2
    assert [error["event"] for error in of(sio_mallory, "error")] == ["message", "message", "sendMessage",
                                                                      "sendMessage"]

    # Nothing was broadcast (alice's own later message is her marker), stored, or hooked.
    for pod in (open_pod, private_pod):
        await sio_alice.call("message", {"podId": pod["id"], "content": "marker"}, timeout=5)
    await wait_for(lambda: len(with_content(sio_alice, "newMessage", "marker")) == 2)
    assert not with_content(sio_alice, "message", "let me in")
    assert not with_content(sio_alice, "newMessage", "let me in")
    for pod in (open_pod, private_pod):
        assert [message["content"] for message in await stored(client, alice, pod)] == ["marker"]
    assert [content for _, _, content in hooks.of("message_created")] == ["marker", "marker"]


@pytest.mark.parametrize("payload, code", [
    ({"content": "x" * 20_001}, "validation_error"),
    ({"content": ""}, "validation_error"),
    ({"content": "   \n "}, "validation_error"),
    ({}, "validation_error"),
    ({"content": 42}, "validation_error"),
    ({"content": "ok", "replyToMessageId": "1"}, "validation_error"),
    ({"content": "ok", "replyToMessageId": 999_999}, "invalid_reply"),
    ({"content": "ok", "attachments": "http://example.com/a.png"}, "validation_error"),
    ({"content": "ok", "attachments": [f"http://example.com/{n}.png" for n in range(21)]}, "validation_error"),
    ("just a string", "validation_error"),
    (None, "validation_error"),
])
async def test_bad_message_is_refused_and_not_stored(payload: Any, code: str, connect: Connect,
                                                     client: httpx.AsyncClient, make_user: Any, make_pod: Any,
                                                     join_pod: Any, hooks: Any) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_alice, sio_bob = await connect(alice), await connect(bob)
    await joined(sio_alice, pod)
    await joined(sio_bob, pod)

    data = {"podId": pod["id"], **payload} if isinstance(payload, dict) else payload
    check_error_ack(await sio_alice.call("message", data, timeout=5), code)
    await wait_for(lambda: of(sio_alice, "error"))
    assert of(sio_alice, "error")[0]["error"] == code

    await sio_alice.call("message", {"podId": pod["id"], "content": "marker"}, timeout=5)
    await wait_for(lambda: with_content(sio_bob, "newMessage", "marker"))
    assert [data["content"] for data in of(sio_bob, "message")] == ["marker"]
    assert [message["content"] for message in await stored(client, bob, pod)] == ["marker"]
    assert [content for _, _, content in hooks.of("message_created")] == ["marker"]


async def test_message_of_the_maximum_length_is_accepted(connect: Connect, client: httpx.AsyncClient,
                                                         make_user: Any, make_pod: Any) -> None:
    alice = await make_user()
    pod = await make_pod(alice)
    sio = await connect(alice)
    await joined(sio, pod)
    ack = await sio.call("message", {"podId": pod["id"], "content": "y" * 20_000}, timeout=5)
    assert len(ack["content"]) == 20_000
    assert [message["id"] for message in await stored(client, alice, pod)] == [ack["id"]]


# -- typing and presence ---------------------------------------------------------------------------


async def test_typing_reaches_the_others_in_the_room(connect: Connect, make_user: Any, make_pod: Any,
                                                     join_pod: Any) -> None:
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    await join_pod(carol, pod)  # a member, but her socket stays out of the room
    sio_alice, sio_bob, sio_carol = await connect(alice), await connect(bob), await connect(carol)
    await joined(sio_alice, pod)
    await joined(sio_bob, pod)

    await sio_alice.emit("typing", {"podId": pod["id"], "isTyping": True})
    expected = {"podId": pod["id"], "userId": alice.id, "username": alice.username, "isTyping": True}
    await wait_for(lambda: of(sio_bob, "typing") == [expected])
    await sio_alice.emit("typing", {"podId": pod["id"], "isTyping": False})
    await wait_for(lambda: len(of(sio_bob, "typing")) == 2)
    assert of(sio_bob, "typing")[1] == {**expected, "isTyping": False}

    # bob's typing reaches alice: by then her own would have arrived, had it been sent to her.
    await sio_bob.emit("typing", {"podId": pod["id"], "isTyping": True})
    await wait_for(lambda: of(sio_alice, "typing"))
    assert of(sio_alice, "typing") == [{"podId": pod["id"], "userId": bob.id, "username": bob.username,
                                        "isTyping": True}]
    # Outside the room: neither receives nor may type there.
    check_error_ack(await sio_carol.call("typing", {"podId": pod["id"], "isTyping": True}, timeout=5),
                    "not_in_room")
    await sio_alice.call("message", {"podId": pod["id"], "content": "marker"}, timeout=5)
    await wait_for(lambda: with_content(sio_bob, "message", "marker"))
    assert len(of(sio_bob, "typing")) == 2 and not of(sio_carol, "typing")


async def test_presence_on_join_leave_and_disconnect(connect: Connect, make_user: Any, make_pod: Any,
                                                     join_pod: Any) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_alice, sio_bob = await connect(alice), await connect(bob)

    def presence(sio: socketio.AsyncClient) -> list[list[str]]:
        return [data["userIds"] for data in of(sio, "podPresence") if data["podId"] == pod["id"]]

    both = sorted([alice.id, bob.id])
    await joined(sio_alice, pod)
    await wait_for(lambda: presence(sio_alice) == [[alice.id]])
    await joined(sio_bob, pod)
    await wait_for(lambda: presence(sio_alice) == [[alice.id], both])
    await wait_for(lambda: presence(sio_bob) == [both])

    await sio_bob.call("leavePod", pod["id"], timeout=5)
    await wait_for(lambda: presence(sio_alice) == [[alice.id], both, [alice.id]])

    # A second socket of the same user is one user in the list; a disconnect is a leave.
    await joined(sio_bob, pod)
    second = await connect(bob)
    await joined(second, pod)
    await wait_for(lambda: presence(sio_alice)[-2:] == [both, both])
    await second.disconnect()
    await wait_for(lambda: len(presence(sio_alice)) == 6)
    assert presence(sio_alice)[-1] == both  # bob is still there through his first socket
    await sio_bob.disconnect()
    await wait_for(lambda: len(presence(sio_alice)) == 7)
    assert presence(sio_alice)[-1] == [alice.id]
    assert all(data.keys() == {"podId", "userIds"} for data in of(sio_alice, "podPresence"))


# -- notifications ---------------------------------------------------------------------------------


async def test_notifications_reach_every_socket_of_one_user(connect: Connect, live_server: Any,
                                                            make_user: Any) -> None:
    alice, bob = await make_user(), await make_user()
    first, second, sio_bob = await connect(alice), await connect(alice), await connect(bob)
    kernel = live_server.app.kernel

    await commonly_pods.notify_user(kernel, alice.id, {"type": "mention", "podId": "p1", "text": "hi"})
    for sio in (first, second):
        await wait_for(lambda sio=sio: of(sio, "notification") == [{"type": "mention", "podId": "p1", "text": "hi"}])
    await marker(sio_bob, live_server, bob, "bob's own")
    assert of(sio_bob, "notification") == [{"type": "marker", "text": "bob's own"}]
    assert commonly_pods.user_room(alice.id) == f"user:{alice.id}"


# -- removed members -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["removed", "left"])
async def test_member_who_is_removed_stops_receiving(how: str, connect: Connect, client: httpx.AsyncClient,
                                                     live_server: Any, make_user: Any, make_pod: Any,
                                                     join_pod: Any, post_message: Any) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_alice, sio_bob, bob_again = await connect(alice), await connect(bob), await connect(bob)
    for sio in (sio_alice, sio_bob, bob_again):
        await joined(sio, pod)
    await post_message(alice, pod, "before")
    for sio in (sio_bob, bob_again):
        await wait_for(lambda sio=sio: with_content(sio, "message", "before"))

    if how == "removed":
        response = await client.delete(f"/api/pods/{pod['id']}/members/{bob.id}", headers=alice.headers)
    else:
        response = await client.post(f"/api/pods/{pod['id']}/leave", headers=bob.headers)
    assert response.status_code == 200, response.text
    # Everyone still in the room hears that bob is gone.
    await wait_for(lambda: of(sio_alice, "podPresence")[-1]["userIds"] == [alice.id])

    await post_message(alice, pod, "after")
    await sio_alice.call("message", {"podId": pod["id"], "content": "after, over socket.io"}, timeout=5)
    await wait_for(lambda: with_content(sio_alice, "message", "after, over socket.io"))
    for sio in (sio_bob, bob_again):
        await marker(sio, live_server, bob, f"after-{id(sio)}")
        assert [data["content"] for data in of(sio, "message")] == ["before"]
        assert [data["content"] for data in of(sio, "newMessage")] == ["before"]

    # Nor can he come back into the room or post there.
    check_error_ack(await sio_bob.call("joinPod", pod["id"], timeout=5), "not_a_member")
    check_error_ack(await sio_bob.call("message", {"podId": pod["id"], "content": "still here?"}, timeout=5),
                    "not_a_member")
    check_error_ack(await sio_bob.call("typing", {"podId": pod["id"], "isTyping": True}, timeout=5), "not_in_room")


# -- agents and deletions --------------------------------------------------------------------------


async def test_agent_token_connects_and_needs_messages_write(connect_socket: Connect, connect: Connect,
                                                             client: httpx.AsyncClient, live_server: Any,
                                                             make_user: Any, make_agent: Any, make_pod: Any) -> None:
    alice = await make_user()
    pod = await make_pod(alice)
    agent = await make_agent(scopes=("context:read",))
    # Agents are installed into pods (the registry's part); here the pods plugin's public API does it.
    await commonly_pods.add_member(live_server.app.kernel, await commonly_pods.get_pod(pod["id"]), agent.id)
    sio_alice = await connect(alice)
    await joined(sio_alice, pod)

    limited = await connect_socket(agent.token, events=EVENTS)
    await joined(limited, pod)
    ack = await limited.call("message", {"podId": pod["id"], "content": "no scope"}, timeout=5)
    check_error_ack(ack, "missing_scope")
    writer = await connect_socket(agent.with_scopes("messages:write").token, events=EVENTS)
    await joined(writer, pod)
    ack = await writer.call("message", {"podId": pod["id"], "content": "from the agent"}, timeout=5)
    assert ack["userId"] == agent.id and ack["isBot"] is True and ack["author"]["isBot"] is True, ack
    await wait_for(lambda: with_content(sio_alice, "newMessage", "from the agent"))
    assert [message["content"] for message in await stored(client, alice, pod)] == ["from the agent"]


async def test_deleted_message_is_announced_to_the_room(connect: Connect, client: httpx.AsyncClient,
                                                        make_user: Any, make_pod: Any, join_pod: Any,
                                                        post_message: Any) -> None:
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    sio_bob = await connect(bob)
    await joined(sio_bob, pod)
    message = await post_message(alice, pod, "oops")
    response = await client.delete(f"/api/pods/{pod['id']}/messages/{message['id']}", headers=alice.headers)
    assert response.status_code == 200, response.text
    await wait_for(lambda: of(sio_bob, "messageDeleted") == [{"podId": pod["id"], "messageId": message["id"]}])
