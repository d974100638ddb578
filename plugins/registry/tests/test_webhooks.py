"""Webhook deliveries of agent events: signed with the installation's secret, retried with backoff,
private addresses refused unless allowed. A real HTTP receiver runs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
from aiohttp import web
from commonly_registry import webhooks
from commonly_registry.models import AgentEvent, Installation

from commonly_kernel.testing import wait_for

commonly_plugins, registry = h.commonly_plugins, h.registry
BACKOFF = 0.2


@pytest.fixture
def commonly_settings(tmp_path: Path) -> dict[str, Any]:
    return h.base_settings(tmp_path, COMMONLY_ALLOW_PRIVATE_URLS="1", COMMONLY_WEBHOOK_ATTEMPTS="3",
                           COMMONLY_WEBHOOK_BACKOFF_SECONDS=str(BACKOFF))


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and the statuses it answers with (200 once the list is used up)."""

    url: str
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver("")

    async def hook(request: web.Request) -> web.Response:
        state.hits.append(Hit(asyncio.get_running_loop().time(), request.path, dict(request.headers),
                              await request.read()))
        return web.Response(status=state.statuses.pop(0) if state.statuses else 200, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def with_webhook(registry, url: str, agent_name: str = "helper", **fields):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, agent_name, config={"runtime": {"webhookUrl": url}}, **fields)
    return alice, pod, agent


async def secret_of(agent) -> str:
    return (await Installation.get(id=agent.installation["id"])).webhook_secret


async def test_each_event_is_posted_signed_and_still_waits_for_an_ack(registry, receiver):
    alice, pod, agent = await with_webhook(registry, f"{receiver.url}/hooks/helper")
    assert "webhookSecret" not in agent.installation and "webhook_secret" not in agent.installation
    message = await registry.post(alice, pod, "@helper wake up")
    await wait_for(lambda: len(receiver.hits) == 1)

    [hit] = receiver.hits
    assert hit.path == "/hooks/helper" and hit.headers["Content-Type"] == "application/json"
    expected = "sha256=" + hmac.new((await secret_of(agent)).encode(), hit.body, hashlib.sha256).hexdigest()
    assert hit.headers["X-Commonly-Signature"] == expected
    event = json.loads(hit.body)
    assert (event["type"], event["agentName"], event["instanceId"], event["podId"]) == \
        ("chat.mention", "helper", "default", pod["id"])
    assert event["payload"]["messageId"] == message["id"] and event["id"] == event["_id"]
    assert hit.headers["X-Commonly-Event"] == "chat.mention"
    assert hit.headers["X-Commonly-Event-Id"] == str(event["id"])

    # A wake-up call, not a delivery: the event is still there to fetch and ack.
    [fetched] = await registry.fetch(agent)
    assert fetched["id"] == event["id"] and fetched["attempts"] == 1
    await registry.ack(agent, fetched["id"])


async def test_the_signature_uses_each_installations_own_secret(registry, receiver):
    alice, pod, helper = await with_webhook(registry, f"{receiver.url}/one")
    echo = await registry.agent(alice, pod, "echo", config={"runtime": {"webhookUrl": f"{receiver.url}/two"}})
    plain = await registry.agent(alice, pod, "writer")  # no webhook
    await registry.post(alice, pod, "@helper @echo @writer all of you")
    await wait_for(lambda: len(receiver.hits) == 2)
    by_path = {hit.path: hit for hit in receiver.hits}
    for agent, path in ((helper, "/one"), (echo, "/two")):
        hit = by_path[path]
        digest = hmac.new((await secret_of(agent)).encode(), hit.body, hashlib.sha256).hexdigest()
        assert hit.headers["X-Commonly-Signature"] == f"sha256={digest}"
        assert json.loads(hit.body)["agentName"] == agent.agent_name
    assert await secret_of(helper) != await secret_of(echo)
    assert len(await registry.fetch(plain)) == 1


async def test_failed_deliveries_are_retried_with_backoff(registry, receiver):
    receiver.statuses = [500, 503]
    alice, pod, _agent = await with_webhook(registry, f"{receiver.url}/flaky")
    await registry.post(alice, pod, "@helper try again")
    await wait_for(lambda: len(receiver.hits) == 3, timeout=10)
    first, second, third = receiver.hits
    assert first.body == second.body == third.body
    assert first.headers["X-Commonly-Signature"] == third.headers["X-Commonly-Signature"]
    # Backoff doubles: about BACKOFF, then 2 x BACKOFF between attempts.
    assert second.at - first.at >= BACKOFF * 0.9
    assert third.at - second.at >= 2 * BACKOFF * 0.9


async def test_retries_stop_after_the_configured_attempts(registry, receiver):
    receiver.statuses = [500] * 10
    _alice, pod, agent = await with_webhook(registry, f"{receiver.url}/down")
    installation = await Installation.get(id=agent.installation["id"])
    stored = await AgentEvent.create(agent_name="helper", instance_id="default", pod_id=pod["id"], type="x",
                                     payload={})
    delivered = await webhooks.deliver(registry.kernel, installation, stored)  # awaited: all attempts done
    assert delivered is False
    assert len(receiver.hits) == 3  # COMMONLY_WEBHOOK_ATTEMPTS
    assert (await AgentEvent.get(id=stored.id)).status == "pending"


async def test_unreachable_webhook_does_not_hold_up_the_event(registry):
    alice, pod, agent = await with_webhook(registry, "http://127.0.0.1:9/nothing-listens-here")
    await registry.post(alice, pod, "@helper are you there?")
    [event] = await registry.fetch(agent)  # the post answered and the event is queued regardless
    assert event["payload"]["content"] == "@helper are you there?"


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook",
                                 "http://[::1]:{port}/hook", "http://10.0.0.7/hook", "http://169.254.169.254/",
                                 "ftp://example.com/hook"])
async def test_private_and_loopback_webhooks_are_refused_unless_allowed(make_app, receiver, url):
    port = receiver.url.rsplit(":", 1)[1]
    async with h.running(make_app, COMMONLY_ALLOW_PRIVATE_URLS="0") as registry:
        _alice, pod, agent = await with_webhook(registry, url.format(port=port))
        installation = await Installation.get(id=agent.installation["id"])
        event = await AgentEvent.create(agent_name="helper", instance_id="default", pod_id=pod["id"], type="x",
                                        payload={})
        assert await webhooks.deliver(registry.kernel, installation, event) is False
        assert receiver.hits == []
        # Still queued for fetching.
        assert [item["id"] for item in await registry.fetch(agent)] == [event.id]


async def test_loopback_webhook_is_allowed_with_the_setting(registry, receiver):
    _alice, pod, agent = await with_webhook(registry, f"{receiver.url}/hook")
    installation = await Installation.get(id=agent.installation["id"])
    event = await AgentEvent.create(agent_name="helper", instance_id="default", pod_id=pod["id"], type="x",
                                    payload={"k": 1})
    assert await webhooks.deliver(registry.kernel, installation, event) is True
    assert json.loads(receiver.hits[-1].body)["payload"] == {"k": 1}
