"""socket.io: connect-time auth through ``commonly_actor_from_token``, plugins' event handlers,
their acks and errors, rooms, and the connected/disconnected hooks — with a real client."""

from __future__ import annotations

import logging

import pytest
import socketio

from commonly_kernel import Actor, Forbidden, NotFound, SocketHandler, hookimpl
from commonly_kernel.testing import wait_for


class Chat:
    name = "chat"

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.connected: list[tuple[str, str, str]] = []
        self.disconnected: list[tuple[str, str, str]] = []

    @hookimpl
    def commonly_actor_from_token(self, token):
        self.tokens.append(token)
        if token == "banned":
            raise Forbidden("This account is suspended.", code="account_suspended")
        return Actor(id=token.removeprefix("user-")) if token.startswith("user-") else None

    @hookimpl
    def commonly_register_socket_handlers(self, realtime):
        async def whoami(sid, data):
            return {"id": (await realtime.actor(sid)).id, "data": data}

        async def join(sid, data):
            await realtime.enter_room(sid, f"pod:{data['pod']}")
            return {"joined": data["pod"]}

        async def say(sid, data):
            actor = await realtime.actor(sid)
            await realtime.emit("said", {"from": actor.id, "text": data["text"]}, room=f"pod:{data['pod']}",
                                skip_sid=sid)
            return {"ok": True}

        async def burst(sid, data):
            room = f"pod:{data['pod']}"
            await realtime.emit("first", {"n": 1}, room=room)
            await realtime.emit("pair", ("left", 2), room=room)  # a tuple is two arguments
            await realtime.emit("nothing", None, room=room)  # None is no argument
            await realtime.emit("others", {"n": 3}, room=room, skip_sid=[sid])
            await realtime.emit("direct", {"n": 4}, to=sid)
            return {"ok": True}

        async def hidden(sid, data):
            raise NotFound("No such pod.", code="pod_not_found", details={"pod": "p1"})

        async def crash(sid, data):
            raise RuntimeError("socket secret")

        async def ping(sid, data):
            return {"pong": (await realtime.actor(sid, "/agents")).id}

        return [
            SocketHandler("whoami", whoami),
            SocketHandler("join", join),
            SocketHandler("say", say),
            SocketHandler("burst", burst),
            SocketHandler("hidden", hidden),
            SocketHandler("crash", crash),
            SocketHandler("ping", ping, namespace="/agents"),
        ]

    @hookimpl
    def commonly_socket_connected(self, sid, actor, namespace):
        if namespace == "/agents" and not actor.id.startswith("agent"):
            raise Forbidden("Connect to /agents with an agent token.", code="agent_token_required")
        self.connected.append((sid, actor.id, namespace))

    @hookimpl
    async def commonly_socket_disconnected(self, realtime, sid, actor, namespace):
        self.disconnected.append((sid, actor.id, namespace))


@pytest.fixture
def database_url(tmp_path):
    # Sockets never touch the database: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'commonly.sqlite3'}"


@pytest.fixture
def chat():
    return Chat()


@pytest.fixture
def commonly_plugins(chat):
    return [chat]


async def test_socket_connect_with_token(connect_socket, chat):
    sio = await connect_socket("user-1")
    assert sio.connected
    assert await sio.call("whoami", {"x": 1}, timeout=5) == {"id": "1", "data": {"x": 1}}
    await wait_for(lambda: len(chat.connected) == 1)
    assert chat.connected == [(sio.get_sid(), "1", "/")]


async def test_socket_connect_without_token_refused(connect_socket, chat):
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_socket(None)
    assert chat.connected == []
    assert chat.tokens == []  # as over HTTP, plugins are not asked about a missing token


async def test_socket_connect_error_data(live_server):
    refusals = []
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("connect_error", lambda data: refusals.append(data))
    for token in ("nobody", "banned"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(live_server.url, transports=["websocket"], auth={"token": token},
                              wait_timeout=5)
    assert refusals == [
        {"error": "unauthorized", "message": "A valid token is required."},
        {"error": "account_suspended", "message": "This account is suspended."},
    ]


@pytest.mark.parametrize("how", ["authorization", "x-auth-token", "agent-header", "query", "auth-bearer"])
async def test_socket_token_sources(live_server, how):
    sio = socketio.AsyncClient(reconnection=False)
    url, headers, auth = live_server.url, {}, None
    if how == "authorization":
        headers = {"Authorization": "Bearer user-5"}
    elif how == "x-auth-token":
        headers = {"x-auth-token": "user-5"}
    elif how == "agent-header":
        headers = {"x-commonly-agent-token": "user-5"}
    elif how == "query":
        url += "?token=user-5"
    else:
        auth = {"token": "Bearer user-5"}
    await sio.connect(url, headers=headers, auth=auth, transports=["websocket"], wait_timeout=5)
    try:
        assert (await sio.call("whoami", None, timeout=5))["id"] == "5"
    finally:
        await sio.disconnect()


async def test_socket_http_error_acks_envelope_and_emits_error(connect_socket):
    sio = await connect_socket("user-1", events=["error"])
    ack = await sio.call("hidden", {"pod": "p1"}, timeout=5)
    assert ack == {"error": "pod_not_found", "message": "No such pod.", "requestId": None,
                   "details": {"pod": "p1"}}
    await wait_for(lambda: sio.received)
    assert sio.received == [("error", {**ack, "event": "hidden"})]
    assert sio.connected


async def test_socket_unexpected_error_is_logged_not_leaked(connect_socket, caplog):
    sio = await connect_socket("user-1", events=["error"])
    with caplog.at_level(logging.ERROR, logger="commonly.realtime"):
        ack = await sio.call("crash", {}, timeout=5)
    assert ack == {"error": "internal_error", "message": "Something went wrong.", "requestId": None}
    assert "socket secret" not in str(ack)
    assert any("crash" in record.getMessage() for record in caplog.records)
    assert (await sio.call("whoami", None, timeout=5))["id"] == "1"


async def test_socket_rooms(connect_socket):
    alice = await connect_socket("user-alice", events=["said"])
    bob = await connect_socket("user-bob", events=["said"])
    carol = await connect_socket("user-carol", events=["said"])
    for sio in (alice, bob):
        assert await sio.call("join", {"pod": "p1"}, timeout=5) == {"joined": "p1"}
    assert await alice.call("say", {"pod": "p1", "text": "hi"}, timeout=5) == {"ok": True}
    await wait_for(lambda: bob.received)
    assert bob.received == [("said", {"from": "alice", "text": "hi"})]
    assert alice.received == [] and carol.received == []


async def test_room_emits_keep_order_arguments_and_skips(connect_socket):
    """Room emits go out one recipient after another (kernel.realtime.DirectFanout): in order,
    with python-socketio's argument rules, skipping whom they are told to skip."""
    alice, bob = await connect_socket("user-alice"), await connect_socket("user-bob")
    got: dict[str, list[tuple]] = {"alice": [], "bob": []}
    for name, sio in (("alice", alice), ("bob", bob)):
        for event in ("first", "pair", "nothing", "others", "direct"):
            sio.on(event, lambda *args, name=name, event=event: got[name].append((event, *args)))
        assert await sio.call("join", {"pod": "p9"}, timeout=5) == {"joined": "p9"}
    assert await alice.call("burst", {"pod": "p9"}, timeout=5) == {"ok": True}
    await wait_for(lambda: len(got["alice"]) == 4 and len(got["bob"]) == 4)
    assert got["alice"] == [("first", {"n": 1}), ("pair", "left", 2), ("nothing",), ("direct", {"n": 4})]
    assert got["bob"] == [("first", {"n": 1}), ("pair", "left", 2), ("nothing",), ("others", {"n": 3})]


async def test_a_room_emit_has_reached_every_queue_when_it_returns(app, connect_socket):
    """What plugins rely on (two emits in a row go out together): no recipient's engine.io writer
    has run in between, so each socket's queue holds both packets."""
    realtime = app.kernel.realtime
    for n in range(3):
        sio = await connect_socket(f"user-{n}")
        assert await sio.call("join", {"pod": "q"}, timeout=5) == {"joined": "q"}
    await realtime.emit("first", {"n": 1}, room="pod:q")
    await realtime.emit("second", {"n": 2}, room="pod:q")
    queued = [realtime.sio.eio.sockets[eio_sid].queue.qsize()
              for _sid, eio_sid in realtime.sio.manager.get_participants("/", "pod:q")]
    assert queued == [2, 2, 2]


async def test_emit_with_ack_to_one_client(app, connect_socket):
    """An emit that asks for an ack keeps python-socketio's own path (an ack id per recipient)."""
    sio = await connect_socket("user-ack")
    sio.on("ask", lambda data: {"answer": data["q"] * 2})
    sid = next(iter(app.kernel.realtime.sio.manager.get_participants("/", None)))[0]
    answer = await app.kernel.realtime.sio.call("ask", {"q": 21}, to=sid, timeout=5)
    assert answer == {"answer": 42}


async def test_socket_namespace_authenticated_too(connect_socket, chat):
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_socket(None, namespace="/agents")
    sio = await connect_socket("user-agent-9", namespace="/agents")
    assert await sio.call("ping", None, namespace="/agents", timeout=5) == {"pong": "agent-9"}
    assert chat.connected[-1][1:] == ("agent-9", "/agents")


async def test_socket_disconnected_hook(connect_socket, chat):
    sio = await connect_socket("user-2")
    sid = sio.get_sid()
    await sio.disconnect()
    await wait_for(lambda: chat.disconnected)
    assert chat.disconnected == [(sid, "2", "/")]


async def test_socket_events_listed(app):
    assert app.kernel.realtime.events[("/agents", "ping")] == "chat"
    assert len(app.kernel.realtime.events) == 7


async def test_socket_connected_hook_may_refuse(live_server, connect_socket, chat):
    refusals = []
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("connect_error", lambda data: refusals.append(data), namespace="/agents")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(live_server.url, transports=["websocket"], namespaces=["/agents"],
                          auth={"token": "user-1"}, wait_timeout=5)
    assert refusals == [{"error": "agent_token_required", "message": "Connect to /agents with an agent token."}]
    agent = await connect_socket("user-agent-7", namespace="/agents")
    assert await agent.call("ping", {}, namespace="/agents", timeout=5) == {"pong": "agent-7"}
    assert [who for _, who, namespace in chat.connected if namespace == "/agents"] == ["agent-7"]
