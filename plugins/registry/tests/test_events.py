"""The agent event queue: producers (mentions, DMs, other plugins), claims, acks, requeue,
retention, the loop guard and the context-overflow retry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import commonly_registry
import pytest
import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
from commonly_pods.models import Pod
from commonly_registry.models import AgentEvent, Installation

from commonly_kernel import NotFound

commonly_plugins, commonly_settings, registry = h.commonly_plugins, h.commonly_settings, h.registry
EVENT_KEYS = {"id", "_id", "agentName", "instanceId", "podId", "type", "payload", "status", "attempts", "createdAt",
              "claimedAt", "deliveredAt", "delivery"}


async def dev_event(registry, user, pod, agent_name="helper", event_type="test.ping", payload=None, **fields):
    body = {"podId": pod["id"], "agentName": agent_name, "type": event_type, "payload": payload or {}, **fields}
    return h.expect(await registry.http.post("/api/dev/agents/events", json=body, headers=user.headers), 201)["event"]


async def backdate(event_id: int, **fields: timedelta) -> None:
    """Move an event's timestamps into the past (``claimed_at=timedelta(minutes=11)``)."""
    now = datetime.now(UTC)
    await AgentEvent.filter(id=event_id).update(**{key: now - age for key, age in fields.items()})


# -- producers: mentions -----------------------------------------------------------------------


async def test_mention_event_carries_the_message(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    message = await registry.post(alice, pod, "Hi @helper, can you summarise @Alice's notes?")

    [event] = await registry.fetch(agent)
    assert set(event) == EVENT_KEYS
    assert event["id"] == event["_id"] and isinstance(event["id"], int)
    assert (event["type"], event["agentName"], event["instanceId"], event["podId"]) == \
        ("chat.mention", "helper", "default", pod["id"])
    assert (event["status"], event["attempts"], event["deliveredAt"], event["delivery"]) == ("claimed", 1, None, None)
    assert event["createdAt"].endswith("Z") and event["claimedAt"].endswith("Z")
    assert event["payload"] == {"messageId": message["id"], "content": message["content"], "userId": alice.id,
                                "username": alice.username, "mentions": ["alice", "helper"]}


async def test_mention_by_instance_id_and_display_slug(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    alpha = await registry.agent(alice, pod, "helper", instanceId="alpha", displayName="Research Buddy")
    beta = await registry.agent(alice, pod, "helper", instanceId="beta", displayName="Beta Tester")

    await registry.post(alice, pod, "@alpha what's new?")
    await registry.post(alice, pod, "Ping @research-buddy.")  # the display slug, trailing dot dropped
    await registry.post(alice, pod, "And @BETA-tester?")  # case does not matter
    await registry.post(alice, pod, "@helper is ambiguous here: two instances, neither named by it")
    await registry.post(alice, pod, "an email alice@alpha.example is no mention")

    assert [event["payload"]["content"] for event in await registry.fetch(alpha)] == \
        ["@alpha what's new?", "Ping @research-buddy."]
    assert [event["payload"]["content"] for event in await registry.fetch(beta)] == ["And @BETA-tester?"]


async def test_bare_agent_name_only_when_one_instance_is_installed(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    alpha = await registry.agent(alice, pod, "helper", instanceId="alpha", displayName="Alpha")
    beta = await registry.agent(alice, pod, "helper", instanceId="beta", displayName="Beta")

    await registry.post(alice, pod, "@helper anyone?")
    assert await registry.fetch(alpha) == [] and await registry.fetch(beta) == []

    h.expect(await registry.http.delete(f"/api/registry/agents/helper/pods/{pod['id']}",
                                        params={"instanceId": "beta"}, headers=alice.headers), 200)
    await registry.post(alice, pod, "@helper now?")
    [event] = await registry.fetch(alpha)
    assert event["instanceId"] == "alpha" and event["payload"]["content"] == "@helper now?"


async def test_one_message_wakes_each_mentioned_agent_once(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    helper = await registry.agent(alice, pod, "helper")
    echo = await registry.agent(alice, pod, "echo")
    await registry.post(alice, pod, "@helper @echo @helper hello both")
    assert len(await registry.fetch(helper)) == 1
    assert len(await registry.fetch(echo)) == 1


async def test_no_event_for_the_agents_own_message(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    helper = await registry.agent(alice, pod, "helper")
    echo = await registry.agent(alice, pod, "echo")

    await registry.post(helper, pod, "I am @helper and I talk to @echo")
    assert await registry.fetch(helper) == []
    [event] = await registry.fetch(echo)
    assert event["payload"]["userId"] == helper.user_id and event["payload"]["username"] == helper.username


async def test_loop_guard_limits_agents_not_people(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    other_pod = await registry.pod(alice, name="Other")
    helper = await registry.agent(alice, pod, "helper")
    await registry.install(alice, other_pod, "helper")
    echo = await registry.agent(alice, pod, "echo")
    await registry.install(alice, other_pod, "echo")

    for n in range(5):
        await registry.post(echo, pod, f"@helper round {n}")
    woken = await registry.fetch(helper)
    assert [event["payload"]["content"] for event in woken] == ["@helper round 0", "@helper round 1",
                                                                "@helper round 2"]
    for event in woken:
        await registry.ack(helper, event["id"])

    # People are never throttled, and the guard is per pod.
    for n in range(5):
        await registry.post(alice, pod, f"@helper person {n}")
    await registry.post(echo, other_pod, "@helper in the other pod")
    contents = [event["payload"]["content"] for event in await registry.fetch(helper)]
    assert contents == [f"@helper person {n}" for n in range(5)] + ["@helper in the other pod"]

    await registry.post(echo, pod, "@helper still throttled")
    assert await registry.fetch(helper) == []

    # Five minutes later the agent may wake it again.
    for event in await AgentEvent.filter(agent_name="helper", from_agent=True, pod_id=pod["id"]):
        await backdate(event.id, created_at=timedelta(minutes=5, seconds=1))
    await registry.post(echo, pod, "@helper after the window")
    assert [event["payload"]["content"] for event in await registry.fetch(helper)] == ["@helper after the window"]


# -- producers: DMs ----------------------------------------------------------------------------


async def test_every_human_message_in_a_dm_pod_is_a_dm_event(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")

    created = await registry.http.post("/api/agents/runtime/dm", json={"agentName": "helper"}, headers=alice.headers)
    dm_pod = h.expect(created, 201)["dmPod"]
    again = h.expect(await registry.http.post("/api/agents/runtime/dm", json={"agentName": "helper"},
                                              headers=alice.headers), 200)["dmPod"]
    assert again["id"] == dm_pod["id"] and dm_pod["type"] == "agent-admin"

    first = await registry.post(alice, dm_pod, "hello there")  # no @ needed
    second = await registry.post(alice, dm_pod, "and @echo is no one here")
    await registry.post(agent, dm_pod, "Hi Alice!")  # the agent's answer wakes nobody

    events = await registry.fetch(agent)
    assert [event["type"] for event in events] == ["dm.message", "dm.message"]
    assert events[0]["podId"] == dm_pod["id"]
    assert events[0]["payload"] == {"messageId": first["id"], "content": "hello there", "userId": alice.id,
                                    "username": alice.username, "podId": dm_pod["id"]}
    assert events[1]["payload"]["messageId"] == second["id"]


async def test_dm_pod_only_for_people_near_the_agent(registry):
    alice, mallory = await registry.user(), await registry.user()
    pod = await registry.pod(alice)
    await registry.install(alice, pod, "helper")
    refused = await registry.http.post("/api/agents/runtime/dm", json={"agentName": "helper"},
                                       headers=mallory.headers)
    assert refused.status_code == 404, refused.text
    await registry.join(mallory, pod)  # a member of a pod where it is installed may
    h.expect(await registry.http.post("/api/agents/runtime/dm", json={"agentName": "helper"},
                                      headers=mallory.headers), 201)


# -- fetching ----------------------------------------------------------------------------------


async def test_fetch_claims_oldest_first_and_ignores_the_clis_query_parameters(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await registry.install(alice, pod, "echo")
    made = [await dev_event(registry, alice, pod, payload={"n": n}) for n in range(3)]
    other = await dev_event(registry, alice, pod, agent_name="echo")

    first = await registry.fetch(agent, limit=2, agentName="echo", instanceId="elsewhere")
    assert [event["id"] for event in first] == [made[0]["id"], made[1]["id"]]
    assert all(event["status"] == "claimed" and event["attempts"] == 1 for event in first)
    assert [event["id"] for event in await registry.fetch(agent)] == [made[2]["id"]]
    assert await registry.fetch(agent) == []
    assert (await AgentEvent.get(id=other["id"])).status == "pending"

    bad = await registry.http.get("/api/agents/runtime/events", params={"limit": "abc"}, headers=agent.headers)
    assert bad.status_code == 400, bad.text


async def test_events_need_an_agent_token(registry):
    alice = await registry.user()
    assert (await registry.http.get("/api/agents/runtime/events")).status_code == 401
    refused = await registry.http.get("/api/agents/runtime/events", headers=alice.headers)
    assert refused.status_code == 403, refused.text
    bogus = {"Authorization": "Bearer cm_agent_" + "0" * 64}
    assert (await registry.http.get("/api/agents/runtime/events", headers=bogus)).status_code == 401


async def test_agent_token_header_works_too(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await dev_event(registry, alice, pod)
    response = await registry.http.get("/api/agents/runtime/events", headers={"x-commonly-agent-token": agent.token})
    assert len(h.expect(response, 200)["events"]) == 1


# -- acks --------------------------------------------------------------------------------------


async def test_ack_delivers_keeps_the_result_and_is_harmless_twice(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await dev_event(registry, alice, pod)
    [event] = await registry.fetch(agent)

    result = {"outcome": "posted", "messageId": 42, "details": {"model": "m", "tokens": 17}, "content": "hi"}
    body = await registry.ack(agent, event["id"], result)
    assert body["success"] is True
    acked = body["event"]
    assert acked["status"] == "delivered" and acked["deliveredAt"] and acked["delivery"] == result
    stored = await AgentEvent.get(id=event["id"])
    assert stored.status == "delivered" and stored.delivery == result

    again = await registry.ack(agent, event["id"], {"outcome": "error", "reason": "late duplicate"})
    assert again["event"]["status"] == "delivered" and again["event"]["delivery"] == result
    assert again["event"]["deliveredAt"] == acked["deliveredAt"]
    assert await registry.fetch(agent) == []


async def test_ack_without_a_result_or_body(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    for _ in range(2):
        await dev_event(registry, alice, pod)
    first, second = await registry.fetch(agent)
    assert (await registry.ack(agent, first["id"]))["event"]["delivery"] == {"outcome": "acknowledged"}
    response = await registry.http.post(f"/api/agents/runtime/events/{second['id']}/ack", json={"result": None},
                                        headers=agent.headers)
    assert h.expect(response, 200)["event"]["delivery"] == {"outcome": "acknowledged"}


async def test_ack_of_someone_elses_or_unknown_event_is_404(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    helper = await registry.agent(alice, pod, "helper")
    echo = await registry.agent(alice, pod, "echo")
    other_instance = await registry.agent(alice, pod, "helper", instanceId="second")
    await dev_event(registry, alice, pod)
    [event] = await registry.fetch(helper)

    for intruder in (echo, other_instance):
        body = await registry.ack(intruder, event["id"], status=404)
        assert body["error"] == "event_not_found"
    for bad_id in ("999999", "abc", "-1", "9" * 30):
        await registry.ack(helper, bad_id, status=404)
    assert (await AgentEvent.get(id=event["id"])).status == "claimed"


async def test_ack_result_is_limited_to_16_kib(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    for _ in range(2):
        await dev_event(registry, alice, pod)
    big_one, exact_one = await registry.fetch(agent)

    def result_of(size: int) -> dict[str, str]:
        result = {"outcome": "posted", "reason": ""}
        result["reason"] = "x" * (size - len(json.dumps(result, separators=(",", ":"))))
        assert len(json.dumps(result, separators=(",", ":")).encode()) == size
        return result

    too_big = await registry.ack(agent, big_one["id"], result_of(16_385), status=413)
    assert too_big["error"] == "result_too_large"
    stored = await AgentEvent.get(id=big_one["id"])
    assert (stored.status, stored.delivery) == ("claimed", None)

    assert (await registry.ack(agent, exact_one["id"], result_of(16_384)))["event"]["status"] == "delivered"
    assert (await registry.ack(agent, big_one["id"], {"outcome": "no_action"}))["event"]["status"] == "delivered"


async def test_ack_result_must_be_an_object(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await dev_event(registry, alice, pod)
    [event] = await registry.fetch(agent)
    for result in ("done", [1], 3):
        response = await registry.http.post(f"/api/agents/runtime/events/{event['id']}/ack",
                                            json={"result": result}, headers=agent.headers)
        assert response.status_code == 400, response.text


# -- claim timeout, failure, retention ---------------------------------------------------------


async def test_expired_claim_is_requeued_when_the_queue_is_fetched(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    made = await dev_event(registry, alice, pod)
    [claimed] = await registry.fetch(agent)
    await backdate(claimed["id"], claimed_at=timedelta(minutes=9, seconds=50))
    assert await registry.fetch(agent) == []  # not yet 10 minutes

    await backdate(claimed["id"], claimed_at=timedelta(minutes=10, seconds=1))
    [again] = await registry.fetch(agent)
    assert again["id"] == made["id"] and again["attempts"] == 2 and again["status"] == "claimed"
    assert again["claimedAt"] > claimed["claimedAt"]


async def test_event_fails_after_its_third_expired_claim(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    made = await dev_event(registry, alice, pod)
    for attempt in (1, 2, 3):
        [event] = await registry.fetch(agent)
        assert (event["id"], event["attempts"]) == (made["id"], attempt)
        await backdate(event["id"], claimed_at=timedelta(minutes=11))
    assert await registry.fetch(agent) == []
    stored = await AgentEvent.get(id=made["id"])
    assert (stored.status, stored.attempts) == ("failed", 3)
    # A late ack of a failed event still records it.
    assert (await registry.ack(agent, made["id"], {"outcome": "posted"}))["event"]["status"] == "delivered"


async def test_scheduler_requeues_and_fails_expired_claims(make_app):
    settings = {"COMMONLY_EVENT_CLAIM_TIMEOUT_SECONDS": "0.5", "COMMONLY_EVENT_REQUEUE_SECONDS": "0.1",
                "COMMONLY_EVENT_MAX_ATTEMPTS": "2"}
    async with h.running(make_app, **settings) as registry:
        alice = await registry.user()
        pod = await registry.pod(alice)
        agent = await registry.agent(alice, pod, "helper")
        made = await dev_event(registry, alice, pod)
        [event] = await registry.fetch(agent)
        assert event["attempts"] == 1

        async def status(wanted: str) -> bool:
            return (await AgentEvent.get(id=made["id"])).status == wanted

        # The job (not a fetch) hands it back, then fails it after the last attempt.
        await h.until(lambda: status("pending"), what="requeued by the job")
        [event] = await registry.fetch(agent)
        assert event["attempts"] == 2
        await h.until(lambda: status("failed"), what="failed by the job")
        assert await registry.fetch(agent) == []


async def test_retention_purges_old_delivered_and_failed_events(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    made = [await dev_event(registry, alice, pod, payload={"n": n}) for n in range(5)]
    claimed = await registry.fetch(agent, limit=4)
    for event in claimed[:3]:
        await registry.ack(agent, event["id"])
    await AgentEvent.filter(id=claimed[2]["id"]).update(status="failed")
    old = timedelta(days=7, minutes=1)
    for event in made:
        await backdate(event["id"], created_at=old)
    await backdate(made[1]["id"], created_at=timedelta(days=6, hours=23))  # delivered, but young

    job = next(job for job in registry.kernel.scheduler.jobs if job.name == "registry.purge-old-events")
    assert await registry.kernel.scheduler.run_once(registry.kernel, job)
    left = {event.id: event.status for event in await AgentEvent.all()}
    # Gone: the old delivered one and the old failed one. Kept: young, claimed, pending.
    assert left == {made[1]["id"]: "delivered", made[3]["id"]: "claimed", made[4]["id"]: "pending"}


# -- context overflow --------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["prompt is too long: 210000 tokens > 200000 maximum",
                                    "This model's maximum context length is 128000 tokens",
                                    "context_length_exceeded", "Token limit reached"])
async def test_context_overflow_ack_reenqueues_once(registry, reason):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    message = await registry.post(alice, pod, "@helper summarise the whole history")
    [event] = await registry.fetch(agent)
    await registry.ack(agent, event["id"], {"outcome": "error", "reason": reason})

    [retry] = await registry.fetch(agent)
    assert retry["id"] != event["id"] and retry["type"] == "chat.mention" and retry["attempts"] == 1
    assert retry["payload"]["retry"] == "context-overflow"
    assert retry["payload"]["messageId"] == message["id"]
    assert {key: retry["payload"][key] for key in event["payload"]} == event["payload"]
    await registry.ack(agent, retry["id"], {"outcome": "error", "reason": reason})
    assert await registry.fetch(agent) == []  # once only (AGENT_CONTEXT_OVERFLOW_RETRY_LIMIT = 1)
    again = await registry.ack(agent, event["id"], {"outcome": "error", "reason": reason})  # a repeated ack
    assert again["event"]["status"] == "delivered"
    assert await registry.fetch(agent) == []


async def test_other_errors_are_not_retried(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    await dev_event(registry, alice, pod)
    await dev_event(registry, alice, pod)
    first, second = await registry.fetch(agent)
    await registry.ack(agent, first["id"], {"outcome": "error", "reason": "upstream 502"})
    await registry.ack(agent, second["id"], {"outcome": "posted", "reason": "context length was fine"})
    assert await registry.fetch(agent) == []


async def test_overflow_retry_limit_is_a_setting(make_app):
    async with h.running(make_app, AGENT_CONTEXT_OVERFLOW_RETRY_LIMIT="2") as registry:
        alice = await registry.user()
        pod = await registry.pod(alice)
        agent = await registry.agent(alice, pod, "helper")
        await dev_event(registry, alice, pod, payload={"task": "big"})
        retries = 0
        while events := await registry.fetch(agent):
            [event] = events
            await registry.ack(agent, event["id"], {"outcome": "error", "reason": "context window exceeded"})
            retries += event["payload"].get("retry") == "context-overflow"
        assert retries == 2


# -- installation state ------------------------------------------------------------------------


async def test_paused_installation_gets_no_events(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    h.expect(await registry.http.patch(f"/api/registry/pods/{pod['id']}/agents/helper", json={"status": "paused"},
                                       headers=alice.headers), 200)
    await registry.post(alice, pod, "@helper are you there?")
    with pytest.raises(NotFound):
        await commonly_registry.enqueue_event(registry.kernel, agent_name="helper", pod_id=pod["id"],
                                              event_type="summary.request", payload={})
    assert await registry.fetch(agent) == []
    assert await AgentEvent.all().count() == 0

    h.expect(await registry.http.patch(f"/api/registry/pods/{pod['id']}/agents/helper", json={"status": "active"},
                                       headers=alice.headers), 200)
    await registry.post(alice, pod, "@helper welcome back")
    assert [event["payload"]["content"] for event in await registry.fetch(agent)] == ["@helper welcome back"]


async def test_uninstall_drops_waiting_events_of_that_pod_only(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    other_pod = await registry.pod(alice, name="Other")
    agent = await registry.agent(alice, pod, "helper")
    await registry.install(alice, other_pod, "helper")
    delivered = await dev_event(registry, alice, pod)
    [claimed] = await registry.fetch(agent)
    await registry.ack(agent, claimed["id"])
    claimed_one = await dev_event(registry, alice, pod)
    await registry.fetch(agent)
    pending_one = await dev_event(registry, alice, pod)
    elsewhere = await dev_event(registry, alice, other_pod)
    await AgentEvent.filter(id=elsewhere["id"]).update(status="pending")

    h.expect(await registry.http.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=alice.headers), 200)
    left = {event.id for event in await AgentEvent.all()}
    assert claimed_one["id"] not in left and pending_one["id"] not in left
    assert {delivered["id"], elsewhere["id"]} <= left
    assert [event["id"] for event in await registry.fetch(agent)] == [elsewhere["id"]]
    await registry.post(alice, pod, "@helper are you gone?")
    assert await registry.fetch(agent) == []


# -- other producers ---------------------------------------------------------------------------


async def test_public_enqueue_service(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    default = await registry.agent(alice, pod, "summarizer")
    second = await registry.agent(alice, pod, "summarizer", instanceId="nightly")

    event = await commonly_registry.enqueue_event(registry.kernel, agent_name="summarizer", pod_id=pod["id"],
                                                  event_type="summary.request", payload={"window": "24h"})
    assert isinstance(event, commonly_registry.AgentEvent) and event.instance_id == "default"
    await commonly_registry.enqueue_event(registry.kernel, agent_name="summarizer", pod_id=pod["id"],
                                          instance_id="nightly", event_type="curate", payload={})
    [got] = await registry.fetch(default)
    assert (got["id"], got["type"], got["payload"], got["podId"]) == \
        (event.id, "summary.request", {"window": "24h"}, pod["id"])
    assert [item["type"] for item in await registry.fetch(second)] == ["curate"]

    with pytest.raises(NotFound):
        await commonly_registry.enqueue_event(registry.kernel, agent_name="echo", pod_id=pod["id"],
                                              event_type="curate", payload={})
    with pytest.raises(NotFound):
        await commonly_registry.enqueue_event(registry.kernel, agent_name="summarizer", pod_id=pod["id"],
                                              instance_id="nope", event_type="curate", payload={})


async def test_public_enqueue_service_forgets_what_changed(registry):
    """The service keeps installations for a few seconds; uninstalling or deleting the pod
    forgets them at once (404, never an event for a pod that is gone)."""
    alice = await registry.user()
    pod, other = await registry.pod(alice), await registry.pod(alice)
    await registry.agent(alice, pod, "summarizer")
    await registry.agent(alice, other, "summarizer")

    async def enqueue(where):
        return await commonly_registry.enqueue_event(registry.kernel, agent_name="summarizer", pod_id=where["id"],
                                                     event_type="curate", payload={})

    await enqueue(pod)  # now cached
    h.expect(await registry.http.delete(f"/api/registry/agents/summarizer/pods/{pod['id']}",
                                        headers=alice.headers), 200)
    with pytest.raises(NotFound):
        await enqueue(pod)
    await enqueue(other)  # now cached
    h.expect(await registry.http.delete(f"/api/pods/{other['id']}", headers=alice.headers), 200)
    with pytest.raises(NotFound):
        await enqueue(other)
    assert await AgentEvent.all().count() == 0


async def test_a_cached_installation_changed_elsewhere_queues_nothing(registry):
    """Another process uninstalled the agent, paused it or deleted the pod, and its note has not
    arrived: the insert itself checks the installation, so 404 and no event, and the cache is
    dropped."""
    alice = await registry.user()
    pods = [await registry.pod(alice) for _ in range(3)]
    for pod in pods:
        await registry.agent(alice, pod, "summarizer")

    async def enqueue(pod):
        return await commonly_registry.enqueue_event(registry.kernel, agent_name="summarizer", pod_id=pod["id"],
                                                     event_type="curate", payload={})

    for pod in pods:
        await enqueue(pod)  # cached now
    await AgentEvent.all().delete()
    # what other processes' changes look like here before their broadcast notes arrive
    await Installation.filter(pod_id=pods[0]["id"]).update(status="uninstalled")
    await Installation.filter(pod_id=pods[1]["id"]).update(status="paused")
    await Pod.filter(id=pods[2]["id"]).delete()
    for pod in pods:
        with pytest.raises(NotFound):
            await enqueue(pod)
    assert await AgentEvent.all().count() == 0


async def test_mentions_follow_installation_changes(registry):
    """A pod's installations are kept per process for mention matching: a change made here is
    seen by the next message; one made elsewhere whose note has not arrived queues nothing."""
    alice = await registry.user()
    pod = await registry.pod(alice)
    helper = await registry.agent(alice, pod, "helper")
    await registry.post(alice, pod, "@helper one")  # the pod's installations are kept now
    writer = await registry.agent(alice, pod, "writer")
    await registry.post(alice, pod, "@writer two")  # installed since: the next message sees it
    assert [event["payload"]["content"] for event in await registry.fetch(writer)] == ["@writer two"]
    await Installation.filter(pod_id=pod["id"], agent_name="helper").update(status="uninstalled")  # elsewhere
    await registry.post(alice, pod, "@helper three")
    assert [event["payload"]["content"] for event in await registry.fetch(helper)] == ["@helper one"]


async def test_dev_route_queues_any_event_for_pod_members_only(registry):
    alice, mallory = await registry.user(), await registry.user()
    pod = await registry.pod(alice, joinPolicy="invite-only")
    agent = await registry.agent(alice, pod, "helper")
    event = await dev_event(registry, alice, pod, event_type="ensemble.turn", payload={"turn": 1})
    assert (event["status"], event["type"], event["attempts"]) == ("pending", "ensemble.turn", 0)
    await Installation.filter(pod_id=pod["id"]).update(status="paused")
    paused = await registry.http.post("/api/dev/agents/events", headers=alice.headers,
                                      json={"podId": pod["id"], "agentName": "helper", "type": "x"})
    assert (paused.status_code, paused.json()["error"]) == (404, "installation_not_found")
    await Installation.filter(pod_id=pod["id"]).update(status="active")
    refused = await registry.http.post("/api/dev/agents/events", headers=mallory.headers,
                                       json={"podId": pod["id"], "agentName": "helper", "type": "x"})
    assert refused.status_code == 404, refused.text
    missing = await registry.http.post("/api/dev/agents/events", headers=alice.headers,
                                       json={"podId": pod["id"], "agentName": "echo", "type": "x"})
    assert missing.status_code == 404, missing.text
    assert [item["id"] for item in await registry.fetch(agent)] == [event["id"]]


async def test_dev_route_is_refused_in_production(make_app):
    async with h.running(make_app, COMMONLY_ENV="production") as registry:
        alice = await registry.user()
        pod = await registry.pod(alice)
        await registry.install(alice, pod, "helper")
        refused = await registry.http.post("/api/dev/agents/events", headers=alice.headers,
                                           json={"podId": pod["id"], "agentName": "helper", "type": "x"})
        assert refused.status_code == 403, refused.text


# -- bot user tokens ---------------------------------------------------------------------------


async def test_bot_token_twins_of_fetch_and_ack(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    installation = await registry.install(alice, pod, "helper")
    runtime = await registry.runtime_token(alice, pod, installation)
    bot = await registry.bot_token(alice, pod, installation)  # no scopes: all
    for _ in range(2):
        await dev_event(registry, alice, pod)

    first = await registry.fetch(bot, limit=1, bot=True)
    assert first[0]["attempts"] == 1
    assert (await registry.ack(bot, first[0]["id"], {"outcome": "posted"}, bot=True))["event"]["status"] == \
        "delivered"
    # The same queue as the runtime token's.
    [second] = await registry.fetch(runtime)
    assert (await registry.ack(bot, second["id"], bot=True))["event"]["status"] == "delivered"

    # Each token only on its own routes.
    wrong = await registry.http.get("/api/agents/runtime/events", headers=bot.headers)
    assert wrong.status_code == 403, wrong.text
    wrong = await registry.http.get("/api/agents/runtime/bot/events", headers=runtime.headers)
    assert wrong.status_code == 403, wrong.text
    wrong = await registry.http.get("/api/agents/runtime/bot/events", headers=alice.headers)
    assert wrong.status_code == 403, wrong.text


async def test_bot_token_scopes_guard_fetch_and_ack(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    installation = await registry.install(alice, pod, "helper")
    await dev_event(registry, alice, pod)

    reader = await registry.bot_token(alice, pod, installation, ["agent:events:read"])
    [event] = await registry.fetch(reader, bot=True)
    refused = await registry.ack(reader, event["id"], bot=True, status=403)
    assert refused["error"] == "missing_scope" and refused["details"]["missing"] == ["agent:events:ack"]

    acker = await registry.bot_token(alice, pod, installation, ["agent:events:ack"])  # replaces the reader's
    assert (await registry.http.get("/api/agents/runtime/bot/events", headers=reader.headers)).status_code == 401
    refused = h.expect(await registry.http.get("/api/agents/runtime/bot/events", headers=acker.headers), 403)
    assert refused["error"] == "missing_scope" and refused["details"]["missing"] == ["agent:events:read"]
    assert (await registry.ack(acker, event["id"], bot=True))["event"]["status"] == "delivered"
