"""The event queue at volume: the batch ack (an extension), bursts pushed over ``/agents`` (one
drain per instance, each event once), and events queued through the raw insert."""

from __future__ import annotations

import asyncio

import commonly_registry
import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
from commonly_registry import events
from commonly_registry.models import AgentEvent

from commonly_kernel.testing import wait_for

commonly_plugins, commonly_settings, registry = h.commonly_plugins, h.commonly_settings, h.registry
NAMESPACE = "/agents"


async def queue(registry, pod, agent_name="helper", count=1, instance_id=None, event_type="test.ping"):
    return [await commonly_registry.enqueue_event(registry.kernel, agent_name=agent_name, pod_id=pod["id"],
                                                  instance_id=instance_id, event_type=event_type,
                                                  payload={"n": n}) for n in range(count)]


async def ack_many(registry, agent, event_ids, result=None, status=200, bot=False, **extra):
    body = {"eventIds": event_ids, **extra}
    if result is not None:
        body["result"] = result
    path = "/api/agents/runtime/bot/events/ack" if bot else "/api/agents/runtime/events/ack"
    return h.expect(await registry.http.post(path, json=body, headers=agent.headers), status)


# -- the batch ack -----------------------------------------------------------------------------


async def test_batch_ack_delivers_its_own_and_reports_the_rest_missing(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    helper = await registry.agent(alice, pod, "helper")
    echo = await registry.agent(alice, pod, "echo")
    second = await registry.agent(alice, pod, "helper", instanceId="second")
    await queue(registry, pod, "helper", 3)
    await queue(registry, pod, "echo", 1)
    await queue(registry, pod, "helper", 1, instance_id="second")
    first, middle, last = await registry.fetch(helper)
    [echoes] = await registry.fetch(echo)
    [seconds] = await registry.fetch(second)

    result = {"outcome": "posted", "messageId": 9, "details": {"ms": 3}}
    asked = [last["id"], echoes["id"], first["id"], 999_999_999, seconds["id"], first["id"]]
    body = await ack_many(registry, helper, asked, result)
    assert body == {"success": True, "acked": [last["id"], first["id"]],
                    "missing": [echoes["id"], 999_999_999, seconds["id"]]}
    for event_id in (first["id"], last["id"]):
        stored = await AgentEvent.get(id=event_id)
        assert (stored.status, stored.delivery) == ("delivered", result) and stored.delivered_at is not None
    for event_id in (middle["id"], echoes["id"], seconds["id"]):  # not asked, or someone else's: untouched
        stored = await AgentEvent.get(id=event_id)
        assert (stored.status, stored.delivery, stored.delivered_at) == ("claimed", None, None)

    # Twice is harmless: still acked, the first result kept; the others still missing.
    delivered_at = (await AgentEvent.get(id=first["id"])).delivered_at
    again = await ack_many(registry, helper, [first["id"], middle["id"], echoes["id"]], {"outcome": "no_action"})
    assert again == {"success": True, "acked": [first["id"], middle["id"]], "missing": [echoes["id"]]}
    stored = await AgentEvent.get(id=first["id"])
    assert (stored.delivery, stored.delivered_at) == (result, delivered_at)
    assert (await AgentEvent.get(id=middle["id"])).delivery == {"outcome": "no_action"}
    assert (await AgentEvent.get(id=echoes["id"])).status == "claimed"
    assert await registry.fetch(helper) == []


async def test_batch_ack_without_a_result_and_of_nothing(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await queue(registry, pod, count=2)
    claimed = await registry.fetch(agent)
    assert await ack_many(registry, agent, []) == {"success": True, "acked": [], "missing": []}
    assert (await ack_many(registry, agent, [event["id"] for event in claimed]))["acked"] == \
        [event["id"] for event in claimed]
    assert {(event.status, event.delivery["outcome"]) for event in await AgentEvent.all()} == \
        {("delivered", "acknowledged")}


async def test_batch_ack_of_pending_events_too(registry):
    """Like the single ack: an event of this instance is delivered whether it was claimed or not."""
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    [event] = await queue(registry, pod)
    assert (await ack_many(registry, agent, [event.id]))["acked"] == [event.id]
    assert (await AgentEvent.get(id=event.id)).status == "delivered"
    assert await registry.fetch(agent) == []


async def test_batch_ack_bad_input(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    [event] = await queue(registry, pod)
    await registry.fetch(agent)
    for body in ({}, {"eventIds": "1"}, {"eventIds": [str(event.id)]}, {"eventIds": [True]}, {"eventIds": [0]},
                 {"eventIds": [2**63]}, {"eventIds": [event.id], "result": "done"},
                 {"eventIds": [event.id], "other": 1}, {"eventIds": list(range(1, 502))}):
        response = await registry.http.post("/api/agents/runtime/events/ack", json=body, headers=agent.headers)
        assert h.expect(response, 400)["error"] == "validation_error", body
    too_big = await ack_many(registry, agent, [event.id], {"outcome": "posted", "reason": "x" * 16_400}, status=413)
    assert too_big["error"] == "result_too_large"
    assert (await AgentEvent.get(id=event.id)).status == "claimed"
    assert (await ack_many(registry, agent, list(range(1, 501))))["acked"] == [event.id]  # 500 is the most


async def test_batch_ack_needs_an_agent_token_and_the_bot_scope(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    installation = await registry.install(alice, pod, "helper")
    runtime = await registry.runtime_token(alice, pod, installation)
    [first, second] = await queue(registry, pod, count=2)

    await ack_many(registry, alice, [first.id], status=403)  # a person's token
    reader = await registry.bot_token(alice, pod, installation, ["agent:events:read"])
    assert (await ack_many(registry, reader, [first.id], status=403))["error"] == "runtime_token_required"
    refused = await ack_many(registry, reader, [first.id], bot=True, status=403)
    assert refused["error"] == "missing_scope" and refused["details"]["missing"] == ["agent:events:ack"]
    assert (await ack_many(registry, runtime, [first.id], bot=True, status=403))["error"] == "bot_token_required"
    assert (await AgentEvent.get(id=first.id)).status == "pending"

    acker = await registry.bot_token(alice, pod, installation, ["agent:events:ack"])
    assert await ack_many(registry, acker, [first.id, second.id], {"outcome": "no_action"}, bot=True) == \
        {"success": True, "acked": [first.id, second.id], "missing": []}


async def test_batch_ack_retries_context_overflows_once_each(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await queue(registry, pod, count=2)
    claimed = await registry.fetch(agent)
    overflow = {"outcome": "error", "reason": "prompt is too long: 210000 tokens > 200000 maximum"}
    await ack_many(registry, agent, [event["id"] for event in claimed], overflow)
    retries = await registry.fetch(agent)
    assert [(event["payload"]["n"], event["payload"]["retry"]) for event in retries] == \
        [(0, "context-overflow"), (1, "context-overflow")]
    await ack_many(registry, agent, [event["id"] for event in retries + claimed], overflow)
    assert await registry.fetch(agent) == []  # once only, and acking the originals again retries nothing


async def test_the_single_acks_are_unchanged_beside_it(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await queue(registry, pod, count=2)
    first, second = await registry.fetch(agent)
    assert (await registry.ack(agent, first["id"], {"outcome": "posted"}))["event"]["status"] == "delivered"
    assert (await ack_many(registry, agent, [first["id"], second["id"]]))["acked"] == [first["id"], second["id"]]
    again = await registry.ack(agent, second["id"], {"outcome": "error", "reason": "late"})
    assert again["event"]["delivery"] == {"outcome": "acknowledged"}


# -- bursts over the socket --------------------------------------------------------------------


async def test_a_burst_is_pushed_once_each_in_order_and_acked_over_the_socket(registry, connect_socket):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    made = await queue(registry, pod, count=60)
    made += await asyncio.gather(*(commonly_registry.enqueue_event(
        registry.kernel, agent_name="helper", pod_id=pod["id"], event_type="test.ping", payload={"n": 60 + n})
        for n in range(60)))
    await wait_for(lambda: len([1 for name, _ in sio.received if name == "event"]) >= 120, timeout=10)
    await asyncio.sleep(0.2)  # nothing more may come
    pushed = [data for name, data in sio.received if name == "event"]
    assert sorted(event["id"] for event in pushed) == sorted(event.id for event in made)
    assert all((event["status"], event["attempts"]) == ("claimed", 1) for event in pushed)
    assert [event["id"] for event in pushed[:60]] == [event.id for event in made[:60]]

    answers = await asyncio.gather(*(sio.call("ack", {"eventId": event["id"], "result": {"outcome": "no_action"}},
                                              namespace=NAMESPACE, timeout=5) for event in pushed))
    assert all(answer == {"ok": True, "eventId": event["id"], "status": "delivered"}
               for answer, event in zip(answers, pushed, strict=True))
    assert {event.status for event in await AgentEvent.all()} == {"delivered"}
    assert (await sio.call("ack", {"eventId": 2**63}, namespace=NAMESPACE, timeout=5))["error"] == "event_not_found"


async def test_a_socket_ack_with_an_overflow_error_retries_and_pushes_the_retry(registry, connect_socket):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    sio = await connect_socket(agent.token, namespace=NAMESPACE, events=["event"])
    [event] = await queue(registry, pod)
    await wait_for(lambda: len(sio.received) == 1)
    answer = await sio.call("ack", {"eventId": event.id, "result": {"outcome": "error", "reason": "token limit"}},
                            namespace=NAMESPACE, timeout=5)
    assert answer == {"ok": True, "eventId": event.id, "status": "delivered"}
    await wait_for(lambda: len(sio.received) == 2)
    assert sio.received[1][1]["payload"] == {"n": 0, "retry": "context-overflow", "overflowRetries": 1}


# -- the raw insert ----------------------------------------------------------------------------


async def test_queued_events_read_back_like_the_orms(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    await registry.agent(alice, pod, "helper")
    payload = {"text": "naïve ☕ \"quoted\" ? and ?", "nested": {"list": [1, 2.5, None, True]}}
    made = await events.enqueue(registry.kernel, agent_name="helper", instance_id="default", pod_id=pod["id"],
                                event_type="test.ping", payload=payload, from_agent=True)
    stored = await AgentEvent.get(id=made.id)
    for event in (made, stored):
        assert (event.agent_name, event.instance_id, str(event.pod_id), event.type, event.payload) == \
            ("helper", "default", pod["id"], "test.ping", payload)
        assert (event.status, event.attempts, event.from_agent, event.claimed_at, event.delivered_at,
                event.delivery) == ("pending", 0, True, None, None, None)
    assert made.created_at == stored.created_at and made.created_at.utcoffset().total_seconds() == 0
    assert await AgentEvent.filter(from_agent=True, created_at__lte=made.created_at).count() == 1

    podless = await events.enqueue(registry.kernel, agent_name="helper", instance_id="default", pod_id=None,
                                   event_type="test.ping", payload={})
    assert podless.pod_id is None and (await AgentEvent.get(id=podless.id)).pod_id is None
