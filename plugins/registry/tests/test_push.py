"""The ``/agents`` socket.io namespace: runtime tokens only, replay on connect, live pushes claimed
like fetches, ``ack`` and ``subscribe`` over the socket."""

from __future__ import annotations

import asyncio

import commonly_registry
import pytest
import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
import socketio
from commonly_registry.models import AgentEvent
from commonly_registry.state import state_of

from commonly_kernel.testing import wait_for

commonly_plugins, commonly_settings, registry = h.commonly_plugins, h.commonly_settings, h.registry
NAMESPACE = "/agents"


def pushed(sio: socketio.AsyncClient, kind: str = "event") -> list:
    return [data for name, data in sio.received if name == kind]


async def setup(registry, agent_name="helper", **fields):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, agent_name, **fields)
    return alice, pod, agent


# -- who may connect ---------------------------------------------------------------------------


async def refusal(live_server, token: str) -> dict:
    """The connect error a socket gets on ``/agents`` with ``token``."""
    errors: list = []
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("connect_error", lambda data: errors.append(data), namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(live_server.url, transports=["websocket"], namespaces=[NAMESPACE], auth={"token": token},
                          wait_timeout=5)
    return errors[0]


async def test_a_user_jwt_is_refused(registry, live_server):
    alice, pod, _agent = await setup(registry)
    await registry.post(alice, pod, "@helper waiting")
    assert await refusal(live_server, alice.token) == {
        "error": "runtime_token_required", "message": "Connect to /agents with a runtime token."}
    assert (await AgentEvent.get(agent_name="helper")).status == "pending"


async def test_a_bot_user_token_or_no_token_is_refused(registry, live_server, connect_socket):
    alice, pod, agent = await setup(registry)
    bot = await registry.bot_token(alice, pod, agent.installation)
    await registry.post(alice, pod, "@helper waiting")
    assert (await refusal(live_server, bot.token))["error"] == "runtime_token_required"
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_socket(None, namespace=NAMESPACE)
    assert (await refusal(live_server, "cm_agent_" + "0" * 64))["error"] == "unauthorized"
    assert (await AgentEvent.get(agent_name="helper")).status == "pending"


# -- replay and live pushes --------------------------------------------------------------------


async def test_pending_events_are_replayed_on_connect(registry, connect_socket):
    alice, pod, agent = await setup(registry)
    for n in range(3):
        await registry.post(alice, pod, f"@helper number {n}")

    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    await wait_for(lambda: len(pushed(sio)) == 3)
    events = pushed(sio)
    assert [event["payload"]["content"] for event in events] == [f"@helper number {n}" for n in range(3)]
    assert all(event["status"] == "claimed" and event["attempts"] == 1 for event in events)
    assert {event.status for event in await AgentEvent.all()} == {"claimed"}
    assert await registry.fetch(agent) == []  # claimed by the push


async def test_new_events_are_pushed_live_and_claimed(registry, connect_socket):
    alice, pod, agent = await setup(registry)
    echo = await registry.agent(alice, pod, "echo")
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    echo_sio = await connect_socket(echo.token, namespace=NAMESPACE, events=["event"])

    message = await registry.post(alice, pod, "@helper live please")
    await wait_for(lambda: len(pushed(sio)) == 1)
    [event] = pushed(sio)
    assert (event["type"], event["status"], event["attempts"]) == ("chat.mention", "claimed", 1)
    assert event["payload"]["messageId"] == message["id"] and event["id"] == event["_id"]
    stored = await AgentEvent.get(id=event["id"])
    assert (stored.status, stored.attempts) == ("claimed", 1) and stored.claimed_at is not None

    await registry.post(alice, pod, "@echo your turn")
    await wait_for(lambda: len(pushed(echo_sio)) == 1)
    assert len(pushed(sio)) == 1  # each instance gets only its own


async def test_an_event_made_where_its_socket_is_connected_is_born_claimed(registry, connect_socket):
    """No pending moment, no claim of its own: stored claimed (attempts 1) and pushed at once."""
    _alice, pod, agent = await setup(registry)
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    # connected: the server's connect handler (and its replay drain) has finished
    event = await commonly_registry.enqueue_event(registry.kernel, agent_name="helper", pod_id=pod["id"],
                                                  event_type="curate", payload={"n": 1})
    assert (event.status, event.attempts) == ("claimed", 1) and event.claimed_at is not None
    await wait_for(lambda: len(pushed(sio)) == 1)
    assert (pushed(sio)[0]["id"], pushed(sio)[0]["status"]) == (event.id, "claimed")
    assert await registry.fetch(agent) == []


async def test_an_event_whose_socket_leaves_while_it_is_stored_waits_pending(registry, connect_socket):
    """The socket was there when the event was born claimed and gone when it was to be pushed:
    back to pending (attempts 0), for the next connection's replay."""
    _alice, pod, agent = await setup(registry)
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    await commonly_registry.enqueue_event(registry.kernel, agent_name="helper", pod_id=pod["id"],
                                          event_type="curate", payload={"n": 0})  # the installation is cached now
    sockets = state_of(registry.kernel).sockets
    storing = asyncio.create_task(commonly_registry.enqueue_event(
        registry.kernel, agent_name="helper", pod_id=pod["id"], event_type="curate", payload={"n": 1}))
    await asyncio.sleep(0)  # it has decided to push and is waiting for its INSERT
    sockets.disconnected(sio.get_sid(NAMESPACE))  # what the disconnect hook does, at just that moment
    event = await storing
    assert (event.status, event.attempts, event.claimed_at) == ("pending", 0, None)
    stored = await AgentEvent.get(id=event.id)
    assert (stored.status, stored.attempts) == ("pending", 0)

    again = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    await wait_for(lambda: pushed(again))
    assert [(item["id"], item["attempts"]) for item in pushed(again)] == [(event.id, 1)]


async def test_ack_over_the_socket(registry, connect_socket):
    alice, pod, agent = await setup(registry)
    echo = await registry.agent(alice, pod, "echo")
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event", "error"])
    echo_sio = await connect_socket(echo.token, namespace=NAMESPACE, events=["error"])
    await registry.post(alice, pod, "@helper ack me")
    await wait_for(lambda: len(pushed(sio)) == 1)
    [event] = pushed(sio)

    # Someone else's event, and malformed acks, are refused with the error envelope.
    refused = await echo_sio.call("ack", {"eventId": event["id"]}, namespace=NAMESPACE, timeout=5)
    assert refused["error"] == "event_not_found"
    for bad in ({"eventId": str(event["id"])}, {"eventId": True}, {"eventId": event["id"], "result": "ok"}, "x"):
        answer = await sio.call("ack", bad, namespace=NAMESPACE, timeout=5)
        assert answer["error"] == "validation_error", answer
    too_big = await sio.call("ack", {"eventId": event["id"], "result": {"reason": "x" * 20_000}},
                             namespace=NAMESPACE, timeout=5)
    assert too_big["error"] == "result_too_large"
    assert (await AgentEvent.get(id=event["id"])).status == "claimed"

    result = {"outcome": "posted", "messageId": 7, "details": {"ms": 12}}
    answer = await sio.call("ack", {"eventId": event["id"], "result": result}, namespace=NAMESPACE, timeout=5)
    assert answer == {"ok": True, "eventId": event["id"], "status": "delivered"}
    stored = await AgentEvent.get(id=event["id"])
    assert (stored.status, stored.delivery) == ("delivered", result)
    again = await sio.call("ack", {"eventId": event["id"]}, namespace=NAMESPACE, timeout=5)
    assert again["status"] == "delivered"
    assert (await AgentEvent.get(id=event["id"])).delivery == result


async def test_an_unacked_push_is_pushed_again_after_the_claim_timeout(make_app):
    settings = {"COMMONLY_EVENT_CLAIM_TIMEOUT_SECONDS": "0.5", "COMMONLY_EVENT_REQUEUE_SECONDS": "0.1"}
    async with h.running(make_app, **settings) as registry:
        alice, pod, agent = await setup(registry)
        sio = await h.agent_socket(registry.server.url, agent.token)
        try:
            await registry.post(alice, pod, "@helper do not lose me")
            await wait_for(lambda: len(pushed(sio)) == 1)
            # Never acked: the requeue job hands it back and the connected socket gets it again.
            await wait_for(lambda: len(pushed(sio)) >= 2, timeout=10)
            first, second = pushed(sio)[:2]
            assert first["id"] == second["id"] and (first["attempts"], second["attempts"]) == (1, 2)
            answer = await sio.call("ack", {"eventId": second["id"]}, namespace=NAMESPACE, timeout=5)
            assert answer["status"] == "delivered"
        finally:
            await sio.disconnect()


async def test_the_newest_socket_of_an_instance_gets_the_push(registry, connect_socket):
    alice, pod, agent = await setup(registry)
    old = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    new = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    await registry.post(alice, pod, "@helper one")
    await wait_for(lambda: len(pushed(new)) == 1)
    await new.disconnect()
    await registry.post(alice, pod, "@helper two")
    await wait_for(lambda: len(pushed(old)) == 1)
    assert pushed(old)[0]["payload"]["content"] == "@helper two"


# -- subscriptions -----------------------------------------------------------------------------


async def test_subscribe_adds_live_messages_of_installed_pods_only(registry, connect_socket):
    alice, pod, agent = await setup(registry)
    second_pod = await registry.pod(alice, name="Second")
    await registry.install(alice, second_pod, "helper")
    foreign_pod = await registry.pod(alice, name="Foreign")
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["message", "event"])

    answer = await sio.call("subscribe", {"podIds": [pod["id"], foreign_pod["id"], "nope", pod["id"]]},
                            namespace=NAMESPACE, timeout=5)
    assert answer == {"subscribed": [pod["id"]], "refused": [foreign_pod["id"], "nope"]}

    await registry.post(alice, foreign_pod, "in the foreign pod")
    await registry.post(alice, second_pod, "in the second pod (installed, not subscribed)")
    message = await registry.post(alice, pod, "in the subscribed pod")
    await wait_for(lambda: len(pushed(sio, "message")) == 1)
    [live] = pushed(sio, "message")
    assert live["id"] == message["id"] and live["content"] == "in the subscribed pod"
    assert live["podId"] == pod["id"] and live["username"] == alice.username
    assert pushed(sio) == []  # a plain message is not an event

    bad = await sio.call("subscribe", {"podIds": "all"}, namespace=NAMESPACE, timeout=5)
    assert bad["error"] == "validation_error"
