"""Reliability of the event queue under failure and concurrency:

1. an agent's socket drops and comes back at random while 1,000 events are produced: every event
   reaches its de-duplicating consumer at least once, and is acked exactly once;
2. two server processes serve claims from one queue at the same time: no event is ever handed to
   two claimers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import commonly_registry
import httpx
import pytest
import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
import socketio
from commonly_registry import events as registry_events
from commonly_registry.models import AgentEvent

commonly_plugins, registry = h.commonly_plugins, h.registry
HELPERS = Path(__file__).with_name("agent_helpers.py")
EVENTS = 1_000


@pytest.fixture
def commonly_settings(tmp_path: Path) -> dict[str, Any]:
    # Claims expire fast and the requeue job runs often, so events pushed into a dropped socket
    # come back within seconds.
    return h.base_settings(tmp_path, COMMONLY_EVENT_CLAIM_TIMEOUT_SECONDS="2", COMMONLY_EVENT_REQUEUE_SECONDS="0.2",
                           COMMONLY_EVENT_MAX_ATTEMPTS="1000")


# -- 1. a flaky agent connection ---------------------------------------------------------------


class FlakyConsumer:
    """An agent that de-duplicates what it receives and acks what it processed; ``run`` drops its
    socket and reconnects at random until ``done`` is set."""

    def __init__(self, url: str, token: str, seed: int) -> None:
        self.url = url
        self.token = token
        self.random = random.Random(seed)
        self.received: Counter[int] = Counter()  # deliveries seen, per event id
        self.processed: set[int] = set()  # the application's work: once per id
        self.confirmed: Counter[int] = Counter()  # acks the server confirmed, per id
        self.connections = 0
        self.done = asyncio.Event()
        self.inbox: asyncio.Queue[int] = asyncio.Queue()
        self.sio: socketio.AsyncClient | None = None

    async def run(self) -> None:
        worker = asyncio.create_task(self.work())
        try:
            while not self.done.is_set():
                sio = socketio.AsyncClient(reconnection=False)
                sio.on("event", self.arrived, namespace="/agents")
                with contextlib.suppress(socketio.exceptions.ConnectionError):
                    await sio.connect(self.url, namespaces=["/agents"], transports=["websocket"],
                                      auth={"token": self.token}, wait_timeout=5)
                    self.connections += 1
                    self.sio = sio
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.done.wait(), self.random.uniform(0.05, 0.6))
                self.sio = None
                await sio.disconnect()
                if not self.done.is_set():
                    await asyncio.sleep(self.random.uniform(0, 0.2))
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def arrived(self, event: dict[str, Any]) -> None:
        self.received[event["id"]] += 1
        await self.inbox.put(event["id"])

    async def work(self) -> None:
        acking: set[int] = set()
        tasks: set[asyncio.Task[None]] = set()

        async def ack(sio: socketio.AsyncClient, event_id: int) -> None:
            try:
                answer = await sio.call("ack", {"eventId": event_id, "result": {"outcome": "no_action"}},
                                        namespace="/agents", timeout=3)
            except (socketio.exceptions.SocketIOError, TimeoutError):
                return  # dropped mid-ack: the event comes back after the claim timeout unless the ack landed
            finally:
                acking.discard(event_id)
            if isinstance(answer, dict) and answer.get("status") == "delivered":
                self.confirmed[event_id] += 1

        try:
            while True:
                event_id = await self.inbox.get()
                if self.confirmed[event_id] or event_id in acking:
                    continue  # a duplicate of something acked (or being acked): nothing to do
                self.processed.add(event_id)
                sio = self.sio
                if sio is None:
                    continue  # offline: it comes back after the claim timeout
                acking.add(event_id)
                task = asyncio.create_task(ack(sio, event_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()


async def test_flaky_agent_socket_gets_every_event_and_acks_each_once(registry, monkeypatch):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")

    # Count, on the server, the acks that arrive and the ones that turn an event delivered.
    acks_arrived: Counter[int] = Counter()
    acks_delivering: Counter[int] = Counter()
    original_ack = registry_events.ack

    async def counting_ack(config, kernel, agent_name, instance_id, event_id, result):
        before = await AgentEvent.get_or_none(id=event_id)
        acks_arrived[event_id] += 1
        event = await original_ack(config, kernel, agent_name, instance_id, event_id, result)
        if before is not None and before.status != "delivered" and event.status == "delivered":
            acks_delivering[event_id] += 1
        return event

    original_ack_each = registry_events.ack_each

    async def counting_ack_each(config, kernel, agent_name, instance_id, acks):  # the socket's acks, grouped
        ids = [event_id for event_id, _result in acks]
        before = {event.id: event.status for event in await AgentEvent.filter(id__in=ids)}
        for event_id in ids:
            acks_arrived[event_id] += 1
        answers = await original_ack_each(config, kernel, agent_name, instance_id, acks)
        for event_id in {event_id for event_id, answer in zip(ids, answers, strict=True) if answer == "delivered"}:
            if event_id in before and before[event_id] != "delivered":
                acks_delivering[event_id] += 1
        return answers

    monkeypatch.setattr(registry_events, "ack", counting_ack)
    monkeypatch.setattr(registry_events, "ack_each", counting_ack_each)

    consumer = FlakyConsumer(registry.server.url, agent.token, seed=int(os.environ.get("CHAOS_SEED", "7")))
    chaos = asyncio.create_task(consumer.run())
    produced: list[int] = []
    try:
        for batch in range(EVENTS // 20):
            for n in range(20):
                event = await commonly_registry.enqueue_event(
                    registry.kernel, agent_name="helper", pod_id=pod["id"], event_type="test.chaos",
                    payload={"n": batch * 20 + n})
                produced.append(event.id)
            await asyncio.sleep(0.01)  # spread production over the chaos

        async def all_delivered() -> bool:
            if os.environ.get("CHAOS_DEBUG"):
                counts = Counter(await AgentEvent.all().values_list("status", flat=True))
                print(dict(counts), consumer.connections, len(consumer.received), sum(consumer.confirmed.values()),
                      flush=True)
                await asyncio.sleep(0.5)
            return await AgentEvent.filter(status="delivered").count() == EVENTS

        await h.until(all_delivered, timeout=90, what="every event delivered")
    finally:
        consumer.done.set()
        await chaos

    assert len(set(produced)) == EVENTS
    assert set(consumer.received) == set(produced), "some events never reached the consumer"
    assert consumer.processed == set(produced)
    assert set(acks_delivering) == set(produced) and set(acks_delivering.values()) == {1}
    assert max(consumer.confirmed.values()) == 1
    # A second ack of an id only happens when a slow ack lands after its claim expired and the event
    # was pushed again; it is harmless (acking twice changes nothing) and must stay rare.
    assert sum(count - 1 for count in acks_arrived.values()) <= EVENTS // 100, Counter(acks_arrived.values())
    assert consumer.connections >= 5, consumer.connections
    failed = await AgentEvent.exclude(status="delivered").count()
    assert failed == 0
    print(f"\n{EVENTS} events, {consumer.connections} connections, "
          f"{sum(consumer.received.values()) - EVENTS} redeliveries, "
          f"{sum(1 for n in consumer.received.values() if n > 1)} events seen more than once")


# -- 2. two processes, one queue ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def server_process(database_url: str) -> AsyncIterator[str]:
    """A registry server in a process of its own on the same database; its base URL."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(HELPERS), str(port), database_url])
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(400):
                if process.poll() is not None:
                    raise AssertionError(f"server process exited with {process.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("server process did not become ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def test_two_processes_never_hand_one_event_to_two_claimers(make_app, database_url):
    async with h.running(make_app, COMMONLY_EVENT_CLAIM_TIMEOUT_SECONDS="600") as registry:  # no requeues here
        alice = await registry.user()
        pod = await registry.pod(alice)
        agent = await registry.agent(alice, pod, "helper")
        await race(database_url, agent, pod)


async def race(database_url: str, agent: Any, pod: dict[str, Any]) -> None:
    total = 2_000
    await AgentEvent.bulk_create([
        AgentEvent(agent_name="helper", instance_id="default", pod_id=pod["id"], type="test.race", payload={"n": n})
        for n in range(total)
    ])
    ids = set(await AgentEvent.all().values_list("id", flat=True))
    assert len(ids) == total

    claims: Counter[int] = Counter()
    claims_by_server: dict[str, int] = {}

    async def poller(http: httpx.AsyncClient, name: str) -> None:
        empty = 0
        while empty < 3:
            response = await http.get("/api/agents/runtime/events", params={"limit": 7})
            assert response.status_code == 200, response.text
            got = response.json()["events"]
            empty = 0 if got else empty + 1
            for event in got:
                assert event["attempts"] == 1, event
                claims[event["id"]] += 1
                claims_by_server[name] = claims_by_server.get(name, 0) + 1
            for event in got[::2]:  # ack some as we go: acks and claims interleave
                ack = await http.post(f"/api/agents/runtime/events/{event['id']}/ack", json={})
                assert ack.status_code == 200, ack.text

    async with server_process(database_url) as first, server_process(database_url) as second:
        clients = [httpx.AsyncClient(base_url=url, headers=agent.headers, timeout=30) for url in (first, second)]
        try:
            await asyncio.gather(*(poller(clients[n % 2], f"process-{n % 2}") for n in range(8)))
        finally:
            for http in clients:
                await http.aclose()

    assert set(claims) == ids, f"{len(ids - set(claims))} events never claimed"
    doubles = {event_id: count for event_id, count in claims.items() if count > 1}
    assert not doubles, f"{len(doubles)} events claimed twice or more"
    assert all(claims_by_server.get(name, 0) > 0 for name in ("process-0", "process-1")), claims_by_server
    assert await AgentEvent.filter(status="pending").count() == 0
    print(f"\n{total} events claimed once each; by process: {claims_by_server}")
