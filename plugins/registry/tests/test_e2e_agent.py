"""End to end: a tiny real agent — a python-socketio client and an httpx client that hold nothing
but its runtime token — is mentioned by a person, reads the context, answers as itself, acks."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
import socketio
from commonly_registry.models import AgentEvent

from commonly_kernel.testing import wait_for

commonly_plugins, commonly_settings, registry = h.commonly_plugins, h.commonly_settings, h.registry


class TinyAgent:
    """What an agent runtime does, in 40 lines: wait for events on ``/agents``, read the pod's
    context and recent messages, answer in the pod, ack with the outcome."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.handled: list[dict[str, Any]] = []
        self.identity: dict[str, Any] = {}
        self.sio.on("event", self.inbox.put, namespace="/agents")

    async def start(self) -> None:
        self.identity = (await self.http.get("/api/agents/runtime/installations")).raise_for_status().json()
        await self.sio.connect(self.base_url, namespaces=["/agents"], transports=["websocket"],
                               auth={"token": self.token}, wait_timeout=5)
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.sio.disconnect()
        await self.http.aclose()

    async def run(self) -> None:
        while True:
            event = await self.inbox.get()
            pod_id = event["podId"]
            context = (await self.http.get(f"/api/agents/runtime/pods/{pod_id}/context")).raise_for_status().json()
            recent = (await self.http.get(f"/api/agents/runtime/pods/{pod_id}/messages",
                                          params={"limit": 5})).raise_for_status().json()
            mine = sum(message["self"] for message in recent["messages"])
            answer = (f"Hi {event['payload']['username']}! {context['pod']['name']} has "
                      f"{len(recent['messages'])} recent messages ({mine} mine).")
            posted = await self.http.post(f"/api/agents/runtime/pods/{pod_id}/messages",
                                          json={"content": answer, "replyToMessageId": event["payload"]["messageId"]})
            message = posted.raise_for_status().json()["message"]
            ack = await self.sio.call("ack", {"eventId": event["id"], "result": {
                "outcome": "posted", "messageId": message["id"]}}, namespace="/agents", timeout=5)
            self.handled.append({"event": event, "message": message, "ack": ack})


async def test_a_tiny_agent_answers_a_mention(registry):
    alice = await registry.user()
    pod = await registry.pod(alice, name="Launch room")
    agent = await registry.agent(alice, pod, "helper")
    bot = TinyAgent(registry.server.url, agent.token)
    await bot.start()
    try:
        assert bot.identity["agentName"] == "helper"
        assert [row["podId"] for row in bot.identity["installations"]] == [pod["id"]]
        question = await registry.post(alice, pod, "@helper how are we doing?")
        await wait_for(lambda: len(bot.handled) == 1)
        [done] = bot.handled
        assert done["event"]["payload"]["messageId"] == question["id"]
        assert done["ack"] == {"ok": True, "eventId": done["event"]["id"], "status": "delivered"}

        listed = h.expect(await registry.http.get(f"/api/pods/{pod['id']}/messages", headers=alice.headers), 200)
        assert [message["content"] for message in listed] == [
            "@helper how are we doing?", f"Hi {alice.username}! Launch room has 1 recent messages (0 mine)."]
        answer = listed[1]
        assert (answer["username"], answer["isBot"], answer["replyToMessageId"]) == \
            (agent.username, True, question["id"])
        stored = await AgentEvent.get(id=done["event"]["id"])
        assert stored.status == "delivered" and stored.delivery == {"outcome": "posted", "messageId": answer["id"]}

        # A second question: the agent now sees its own earlier answer, and still answers only once.
        await registry.post(alice, pod, "@helper and now?")
        await wait_for(lambda: len(bot.handled) == 2)
        assert bot.handled[1]["message"]["content"] == \
            f"Hi {alice.username}! Launch room has 3 recent messages (1 mine)."
        assert await AgentEvent.filter(status="delivered").count() == 2
        assert await AgentEvent.exclude(status="delivered").count() == 0
    finally:
        await bot.stop()
