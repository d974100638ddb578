"""The development-only route that queues any event for an installed agent."""

from __future__ import annotations

import pytest
from commonly_registry.models import AgentEvent

DEV = "/api/dev/agents/events"


async def test_dev_events_queue_for_an_installed_instance(client, make_user, make_pod, join_pod, install,
                                                          runtime_token, agent_headers, assert_error):
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await install(alice, pod)
    await install(alice, pod, instanceId="night")
    response = await client.post(DEV, json={"podId": pod["id"], "agentName": "helper", "type": "test.ping",
                                            "payload": {"note": "hello", "n": 1}}, headers=alice.headers)
    assert response.status_code == 201, response.text
    event = response.json()["event"]
    assert isinstance(event["id"], int) and event["_id"] == event["id"]
    assert {key: event[key] for key in ("agentName", "instanceId", "podId", "type", "payload", "status",
                                        "attempts")} == {
        "agentName": "helper", "instanceId": "default", "podId": pod["id"], "type": "test.ping",
        "payload": {"note": "hello", "n": 1}, "status": "pending", "attempts": 0}
    night = await client.post(DEV, json={"podId": pod["id"], "agentName": "helper", "instanceId": "night",
                                         "type": "summary.request"}, headers=alice.headers)
    assert night.json()["event"]["instanceId"] == "night" and night.json()["event"]["payload"] == {}

    # the event is in that instance's queue, and only there
    fetched = await client.get("/api/agents/runtime/events", headers=agent_headers(await runtime_token(alice, pod)))
    assert [item["id"] for item in fetched.json()["events"]] == [event["id"]]

    assert_error(await client.post(DEV, json={"podId": pod["id"], "agentName": "archivist", "type": "x"},
                                   headers=alice.headers), 404, "installation_not_found")
    assert_error(await client.post(DEV, json={"podId": pod["id"], "agentName": "helper", "type": "x"},
                                   headers=bob.headers), 403, "not_a_member")
    assert_error(await client.post(DEV, json={"podId": pod["id"], "agentName": "helper", "type": "x"}), 401)
    assert_error(await client.post(DEV, json={"podId": pod["id"], "agentName": "helper"}, headers=alice.headers), 400,
                 "validation_error")
    assert await AgentEvent.all().count() == 2


@pytest.mark.parametrize("extra_settings", [{"COMMONLY_ENV": "production"}])
async def test_dev_events_are_403_in_production(client, make_user, make_pod, install, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    await install(alice, pod)
    response = await client.post(DEV, json={"podId": pod["id"], "agentName": "helper", "type": "test.ping"},
                                 headers=alice.headers)
    assert_error(response, 403, "development_only")
    assert await AgentEvent.all().count() == 0
