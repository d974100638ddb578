"""Agent event queue throughput: events enqueued, delivered and acked per second, and the server's
CPU time per event.

Run from the repository root::

    .venv/bin/python bench/registry_queue.py            # SQLite; ~2 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/registry_queue.py        # SQLite, then PostgreSQL too

For each database it starts one server process (uvicorn on uvloop, as ``commonly serve`` runs; 1
worker; plugins ``auth``, ``pods``, ``registry``; rate limits off; pinned to CPU 1; this script
runs on CPU 0) with one extra route,
``POST /bench/enqueue {podId, agentName, instanceId, count}``, that calls the registry's public
service ``commonly_registry.enqueue_event`` ``count`` times in-process — what other plugins do
(100 calls a request, one producer per instance, so 4 requests in flight). It installs
``--agents`` instances of one agent in a pod and issues each a runtime token. The consumers are
what a runtime at volume does:

- ``socket``: each instance connected to ``/agents``; every pushed ``event`` is acked over the
  socket (``ack {eventId, result}``) at once. The client is a lean Engine.IO 4 / socket.io client
  on an aiohttp websocket (the same wire as python-socketio, a fraction of its client CPU).
- ``http_batch``: ``GET /api/agents/runtime/events?limit=100``, then one
  ``POST /api/agents/runtime/events/ack {eventIds, result}`` (the registry's batch ack; skipped
  when the server has none).
- ``http``: the same fetch, then ``POST .../events/:id/ack`` for each, 8 in flight per instance.

Phases (each leaves the queue empty; checked): **enqueue_only** (no consumers), **deliver_ack_only**
(a full queue, filled untimed, drained: for ``socket`` from connect to the last ack answer),
**end_to_end** (producer and consumers together, first enqueue to last ack) and **mentions** (end
to end with pod messages as the producer: a person posts ``@worker-NN ...``, 4 in flight; the
server CPU then includes posting the message). Every acked event must end ``delivered``. On a
PostgreSQL server running without autovacuum (this machine's CI database is configured so), the
queue table is vacuumed before each phase, as autovacuum would between bursts; the results record
``vacuumed_between_phases``.

Besides events/s it reads from ``/proc`` the server's CPU time (µs per event), PostgreSQL's (every
``postgres`` process; PostgreSQL runs only), this script's, and everyone else's (the machine is
shared: judge by the server's CPU per event when the wall clock is noisy).
``--profile [PHASE/CONSUMER]`` runs the server under cProfile during that phase and prints where its
time goes. Writes ``bench/results/registry-queue-<date>.json``. Target: ≥ 1,000 events/s end to
end on PostgreSQL. Only 127.0.0.1 is contacted; nothing is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import kernel_http as bh

TARGET_EVENTS_PER_S = 1_000.0
PLUGINS = "auth,pods,registry"
AGENT = "bench-agent"
ACKS_IN_FLIGHT = 8  # per-event HTTP acks in flight per instance
PRODUCER_BATCH = 100  # enqueue_event calls per /bench/enqueue request
POSTERS = 4  # message POSTs in flight in the mentions phase
FETCH_LIMIT = 100
PHASE_TIMEOUT = 600.0


log = bh.log


# -- the server (this file run with --serve) ------------------------------------------------------


def serve(port: int, database_url: str, data_dir: str, profile: str | None) -> None:
    """A Commonly app with the registry and one bench route that calls the public enqueue service."""
    import cProfile

    import commonly_registry
    import uvicorn
    from quart import Blueprint, request

    from commonly_kernel import Settings, create_app, current_actor, hookimpl, kernel, require_actor

    class BenchProducer:
        name = "bench-producer"

        @hookimpl
        def commonly_register_blueprints(self) -> list[Blueprint]:
            blueprint = Blueprint("bench_producer", __name__)

            @blueprint.post("/bench/enqueue")
            @require_actor(kind="user")
            async def enqueue() -> tuple[dict[str, Any], int]:
                body = await request.get_json()
                assert current_actor().kind == "user"
                for _ in range(int(body["count"])):
                    await commonly_registry.enqueue_event(
                        kernel(), agent_name=body["agentName"], pod_id=body["podId"], instance_id=body["instanceId"],
                        event_type="bench.tick", payload={"n": 1})
                return {"queued": body["count"]}, 201

            return [blueprint]

    folder = Path(data_dir)
    catalog = folder / "agents.json"
    catalog.write_text(json.dumps({"agents": [{"name": AGENT, "displayName": "Bench agent", "version": "1.0.0"}]}))
    settings = Settings.from_env(environ={}, DATABASE_URL=database_url, JWT_SECRET="x" * 48,
                                 COMMONLY_DATA_DIR=str(folder / "data"), COMMONLY_LOG_LEVEL="WARNING",
                                 COMMONLY_RATE_LIMITS="0", COMMONLY_AGENT_CATALOG=str(catalog),
                                 COMMONLY_ENV="development")
    app = create_app(settings, plugins=[*PLUGINS.split(","), BenchProducer()])
    profiler = cProfile.Profile() if profile else None
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        if profiler is not None:
            # Profile only between the runner's start and stop markers (files next to the dump).
            start, stop = Path(profile + ".start"), Path(profile + ".stop")
            while not start.exists() and not task.done():
                await asyncio.sleep(0.05)
            profiler.enable()
            while not stop.exists() and not task.done():
                await asyncio.sleep(0.05)
            profiler.disable()
            profiler.dump_stats(profile)
        await task

    # The event loop `commonly serve` gets: uvicorn's "auto" picks uvloop when it is installed.
    # (asyncio.run here would hand uvicorn the slower stdlib loop.)
    try:
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run())


# -- the runner -----------------------------------------------------------------------------------


class Setup:
    def __init__(self, url: str, person: dict[str, str], pod_id: str, agents: list[tuple[str, str]]) -> None:
        self.url = url
        self.person = person  # Authorization header
        self.pod_id = pod_id
        self.agents = agents  # (instanceId, runtime token)


async def prepare(url: str, agents: int) -> Setup:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.post("/api/auth/register", json={"username": "bencher", "email": "bencher@example.com",
                                                             "password": "bench-password-1234"})
        answer.raise_for_status()
        person = {"Authorization": f"Bearer {answer.json()['token']}"}
        pod = (await http.post("/api/pods", json={"name": "Queue bench"}, headers=person)).raise_for_status().json()
        tokens = []
        for n in range(agents):
            instance = f"worker-{n:02d}"
            (await http.post("/api/registry/install", headers=person, json={
                "agentName": AGENT, "podId": pod["id"], "instanceId": instance})).raise_for_status()
            issued = await http.post(f"/api/registry/pods/{pod['id']}/agents/{AGENT}/runtime-tokens", headers=person,
                                     json={"instanceId": instance, "label": "bench"})
            tokens.append((instance, issued.raise_for_status().json()["token"]))
    return Setup(url, person, pod["id"], tokens)


async def _check(response: Any) -> Any:
    if response.status >= 400:
        raise RuntimeError(f"{response.method} {response.url.path} → {response.status}: {await response.text()}")
    return await response.json()


# -- producers


async def produce_service(http: Any, setup: Setup, per_agent: int) -> None:
    """``POST /bench/enqueue`` (``PRODUCER_BATCH`` calls of ``enqueue_event`` a request): one
    producer per instance, so as many requests are in flight as there are instances."""

    async def producer(instance: str) -> None:
        for start in range(0, per_agent, PRODUCER_BATCH):
            body = {"podId": setup.pod_id, "agentName": AGENT, "instanceId": instance,
                    "count": min(PRODUCER_BATCH, per_agent - start)}
            async with http.post(f"{setup.url}/bench/enqueue", json=body, headers=setup.person) as response:
                await _check(response)

    await asyncio.gather(*(producer(instance) for instance, _ in setup.agents))


async def produce_mentions(http: Any, setup: Setup, per_agent: int) -> None:
    """Pod messages as a person, each mentioning one instance (round robin), ``POSTERS`` in flight."""
    path = f"{setup.url}/api/pods/{setup.pod_id}/messages"
    bodies = [{"content": f"@{instance} please look at item {n}"} for n in range(per_agent)
              for instance, _ in setup.agents]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def poster() -> None:
        while not queue.empty():
            async with http.post(path, json=queue.get_nowait(), headers=setup.person) as response:
                await _check(response)

    await asyncio.gather(*(poster() for _ in range(POSTERS)))


# -- consumers


class AgentSocket:
    """A lean socket.io client for ``/agents`` (Engine.IO 4 over a websocket, aiohttp): acks every
    pushed ``event`` over the socket at once, ``{eventId, result}``, and counts the acks the server
    answered ``delivered``. The wire is the one python-socketio speaks; only the client's own cost
    is smaller, so that the server is what is measured."""

    def __init__(self, http: Any, url: str, token: str, expected: int) -> None:
        self.http, self.url, self.token, self.expected = http, url, token, expected
        self.delivered = 0
        self.errors: list[str] = []
        self.done = asyncio.Event()
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self._ws: Any = None
        if expected == 0:
            self.done.set()

    async def connect(self) -> None:
        ws_url = self.url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._ws = await self.http.ws_connect(ws_url, autoping=False, max_msg_size=0)
        opened = await self._ws.receive_str()
        if not opened.startswith("0"):
            raise RuntimeError(f"unexpected Engine.IO open packet {opened!r}")
        connected = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(connected))
        await self._ws.send_str("40/agents," + json.dumps({"token": self.token}))
        await asyncio.wait_for(connected, 30)

    async def _read(self, connected: asyncio.Future[None]) -> None:
        ws = self._ws
        async for message in ws:
            data = message.data
            if not isinstance(data, str):
                continue
            if data.startswith("42/agents,"):
                name, body = json.loads(data[10:])
                if name == "event":
                    self._next_id += 1
                    await ws.send_str(f'42/agents,{self._next_id}["ack",{{"eventId":{body["id"]},'
                                      f'"result":{{"outcome":"no_action"}}}}]')
                elif name == "error":
                    self.errors.append(json.dumps(body))
            elif data.startswith("43/agents,"):
                rest = data[10:]
                [answer] = json.loads(rest[rest.index("["):])
                if answer.get("status") == "delivered":
                    self.delivered += 1
                    if self.delivered >= self.expected:
                        self.done.set()
                else:
                    self.errors.append(json.dumps(answer))
            elif data == "2":
                await ws.send_str("3")
            elif data.startswith("40/agents") and not connected.done():
                connected.set_result(None)
            elif data.startswith("44/agents") and not connected.done():
                connected.set_exception(RuntimeError(f"connect refused: {data}"))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def consume_http(http: Any, url: str, token: str, expected: int, batch_ack: bool) -> int:
    """Fetch up to 100 and ack them: one batch ack, or per-event acks ``ACKS_IN_FLIGHT`` at a time."""
    headers = {"Authorization": f"Bearer {token}"}
    result = {"outcome": "no_action"}
    acked = 0
    gate = asyncio.Semaphore(ACKS_IN_FLIGHT)

    async def ack(event_id: int) -> None:
        async with gate, http.post(f"{url}/api/agents/runtime/events/{event_id}/ack", json={"result": result},
                                   headers=headers) as response:
            await _check(response)

    deadline = time.monotonic() + PHASE_TIMEOUT
    while acked < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"consumer stuck at {acked}/{expected}")
        async with http.get(f"{url}/api/agents/runtime/events?limit={FETCH_LIMIT}", headers=headers) as response:
            events = (await _check(response))["events"]
        if not events:
            await asyncio.sleep(0.005)
            continue
        ids = [event["id"] for event in events]
        if batch_ack:
            async with http.post(f"{url}/api/agents/runtime/events/ack", json={"eventIds": ids, "result": result},
                                 headers=headers) as response:
                answer = await _check(response)
            if answer["missing"]:
                raise RuntimeError(f"batch ack reported missing ids {answer['missing']}")
        else:
            await asyncio.gather(*(ack(event_id) for event_id in ids))
        acked += len(ids)
    return acked


async def supports_batch_ack(setup: Setup) -> bool:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(
            f"{setup.url}/api/agents/runtime/events/ack", json={"eventIds": []},
            headers={"Authorization": f"Bearer {setup.agents[0][1]}"}) as response:
        return response.status == 200


# -- one phase


def _db_seconds() -> dict[int, float]:
    """CPU seconds of each PostgreSQL process on this machine, by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found[int(entry.name)] = bh._process_seconds(int(entry.name))
    return found


def _probe(server_pid: int) -> tuple[float, float, float, float, dict[int, float]]:
    return (time.perf_counter(), bh._busy_seconds(), bh._process_seconds(server_pid), bh._own_seconds(),
            _db_seconds())


async def run_phase(setup: Setup, server_pid: int, phase: str, consumer: str, per_agent: int,
                    marker: Path | None = None, postgres: bool = False) -> dict[str, Any]:
    """One measured phase: ``enqueue_only``, ``deliver_ack_only`` (a full queue drained) or
    ``end_to_end`` (producer and consumers together, first enqueue to last ack); ``mentions`` is
    end to end with pod messages as the producer."""
    import aiohttp

    total = per_agent * len(setup.agents)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=PHASE_TIMEOUT)) as http:
        if phase == "deliver_ack_only":
            await produce_service(http, setup, per_agent)  # not timed
        sockets = []
        if consumer == "socket" and phase != "deliver_ack_only":
            sockets = [AgentSocket(http, setup.url, token, per_agent) for _, token in setup.agents]
            await asyncio.gather(*(sock.connect() for sock in sockets))
        if marker is not None:
            (marker.parent / (marker.name + ".start")).touch()
        before = _probe(server_pid)
        work: list[Any] = []
        if phase in ("enqueue_only", "end_to_end"):
            work.append(produce_service(http, setup, per_agent))
        elif phase == "mentions":
            work.append(produce_mentions(http, setup, per_agent))
        if phase != "enqueue_only":
            if consumer == "socket":
                if phase == "deliver_ack_only":
                    sockets = [AgentSocket(http, setup.url, token, per_agent) for _, token in setup.agents]
                    work.extend(sock.connect() for sock in sockets)
                work.extend(sock.done.wait() for sock in sockets)
            else:
                work.extend(consume_http(http, setup.url, token, per_agent, consumer == "http_batch")
                            for _, token in setup.agents)
        await asyncio.wait_for(asyncio.gather(*work), PHASE_TIMEOUT)
        after = _probe(server_pid)
        if marker is not None:
            (marker.parent / (marker.name + ".stop")).touch()
        errors = [error for sock in sockets for error in sock.errors]
        for sock in sockets:
            await sock.close()
    if errors:
        raise RuntimeError(f"socket errors: {errors[:5]}")
    wall, busy, server_cpu, own_cpu = (b - a for a, b in zip(before[:4], after[:4], strict=True))
    # PostgreSQL's processes (backends that exited meanwhile are lost; new ones count from zero)
    db_cpu = sum(seconds - before[4].get(pid, 0.0) for pid, seconds in after[4].items()) if postgres else 0.0
    others = max(0.0, busy - server_cpu - own_cpu - db_cpu)
    return {"phase": phase, "consumer": consumer if phase != "enqueue_only" else "-", "events": total,
            "seconds": round(wall, 3), "events_per_s": round(total / wall, 1),
            "server_cpu_cores": round(server_cpu / wall, 3), "server_cpu_us_per_event": round(server_cpu * 1e6 / total),
            "db_cpu_cores": round(db_cpu / wall, 3), "db_cpu_us_per_event": round(db_cpu * 1e6 / total),
            "client_cpu_cores": round(own_cpu / wall, 3), "client_cpu_us_per_event": round(own_cpu * 1e6 / total),
            "others_cpu_cores": round(others / wall, 3)}


async def queue_is_empty(setup: Setup) -> bool:
    """Nothing left pending or claimed (a fetch claims nothing)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _, token in setup.agents:
            async with http.get(f"{setup.url}/api/agents/runtime/events?limit=1",
                                headers={"Authorization": f"Bearer {token}"}) as response:
                if (await _check(response))["events"]:
                    return False
    return True


def profile_summary(path: str, events: int, top: int = 25) -> dict[str, Any]:
    """Where the server's time went: by package (own time) and the costliest functions."""
    stats = pstats.Stats(path)
    groups: dict[str, float] = {}
    rows = []
    for (filename, line, function), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        group = _group(filename)
        groups[group] = groups.get(group, 0.0) + own
        rows.append((own, cumulative, calls, f"{_short(filename)}:{line}({function})"))
    total = sum(groups.values())
    by_group = {name: {"seconds": round(seconds, 3), "share": round(seconds / total, 3),
                       "us_per_event": round(seconds * 1e6 / events, 1)}
                for name, seconds in sorted(groups.items(), key=lambda item: -item[1])}
    rows.sort(reverse=True)
    functions = [{"function": name, "own_s": round(own, 3), "cumulative_s": round(cum, 3), "calls": calls}
                 for own, cum, calls, name in rows[:top]]
    cumulative = sorted(((cum, calls, f"{_short(f)}:{line}({fn})")
                         for (f, line, fn), (_cc, calls, _own, cum, _c) in stats.stats.items()  # type: ignore[attr-defined]
                         if "commonly" in f), reverse=True)[:top]
    return {"profiled_seconds": round(total, 3), "by_package": by_group, "top_own_time": functions,
            "top_commonly_cumulative": [{"function": name, "cumulative_s": round(cum, 3), "calls": calls}
                                        for cum, calls, name in cumulative]}


def _group(filename: str) -> str:
    for marker, name in (("tortoise", "tortoise"), ("pypika", "pypika (SQL building)"),
                         ("asyncpg", "asyncpg"), ("aiosqlite", "aiosqlite"), ("sqlite3", "sqlite3"),
                         ("quart_schema", "quart-schema"), ("quart", "quart"), ("werkzeug", "werkzeug"),
                         ("pydantic", "pydantic"), ("uvicorn", "uvicorn"), ("httptools", "uvicorn"),
                         ("wsproto", "wsproto"), ("socketio", "socketio/engineio"), ("engineio", "socketio/engineio"),
                         ("commonly_registry", "commonly_registry"), ("commonly_pods", "commonly_pods"),
                         ("commonly_auth", "commonly_auth"), ("commonly_kernel", "commonly_kernel"),
                         ("pluggy", "pluggy"), ("asyncio", "asyncio"), ("json", "json"), ("iso8601", "iso8601")):
        if marker in filename:
            return name
    return "other (builtins, stdlib)" if filename.startswith("~") or "python3" in filename else "other"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


PHASES = [("enqueue_only", "-"), ("deliver_ack_only", "socket"), ("deliver_ack_only", "http_batch"),
          ("deliver_ack_only", "http"), ("end_to_end", "socket"), ("end_to_end", "http_batch"),
          ("end_to_end", "http"), ("mentions", "socket")]


def run_suite(name: str, database_url: str | None, args: argparse.Namespace, server_cpu: int | None,
              client_cpu: int | None) -> dict[str, Any]:
    results: dict[str, Any] = {"database": name, "phases": [], "skipped": []}
    wanted = [(phase, consumer) for phase, consumer in PHASES
              if not args.only or f"{phase}/{consumer}".startswith(tuple(args.only))]
    with tempfile.TemporaryDirectory(prefix=f"commonly-bench-queue-{name}-") as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite://{workdir / 'commonly.sqlite3'}"
        profile = str(workdir / "server.prof") if args.profile else None
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", "--database-url", url,
                "--data-dir", str(workdir)] + (["--profile-to", profile] if profile else [])
        server = bh.Server("registry", argv, bh.clean_env(), workdir / "server.log", server_cpu)
        server.start()
        try:
            server.wait_ready("/ready")
            if client_cpu is not None:
                os.sched_setaffinity(0, {client_cpu})
            setup = asyncio.run(prepare(f"http://{bh.HOST}:{server.port}", args.agents))
            batch = asyncio.run(supports_batch_ack(setup))
            per_agent = args.events // args.agents
            # a warm-up, not recorded: every code path once
            asyncio.run(run_phase(setup, server.proc.pid, "end_to_end", "socket", 50))
            asyncio.run(run_phase(setup, server.proc.pid, "end_to_end", "http", 50))
            vacuum = database_url is not None and asyncio.run(autovacuum_off(database_url))
            results["vacuumed_between_phases"] = vacuum
            for phase, consumer in wanted:
                if vacuum:
                    asyncio.run(vacuum_queue(database_url))
                if consumer == "http_batch" and not batch:
                    results["skipped"].append(f"{phase}/{consumer}: the server has no batch ack")
                    continue
                count = args.mentions // args.agents if phase == "mentions" else per_agent
                marker = Path(profile) if profile and f"{phase}/{consumer}".startswith(args.profile) else None
                result = asyncio.run(run_phase(setup, server.proc.pid, phase, consumer, count, marker,
                                               postgres=database_url is not None))
                if phase != "enqueue_only" and not asyncio.run(queue_is_empty(setup)):
                    raise RuntimeError(f"{phase}/{consumer}: events left in the queue")
                if phase == "enqueue_only":  # drain what it queued before the next phase (not measured)
                    asyncio.run(run_phase(setup, server.proc.pid, "drain", "http_batch" if batch else "http",
                                          per_agent))
                log(f"  [{name}] {phase + '/' + result['consumer']:<28} {result['events']:6d} events "
                    f"{result['events_per_s']:8.1f} events/s  server {result['server_cpu_us_per_event']:5d} µs/event "
                    f"({result['server_cpu_cores']:.2f} cores)  db {result['db_cpu_us_per_event']:4d} µs/event  "
                    f"client {result['client_cpu_us_per_event']:4d} µs/event  "
                    f"others {result['others_cpu_cores']:.2f} cores")
                results["phases"].append(result)
            if profile:
                for _ in range(100):
                    if Path(profile).exists():
                        break
                    time.sleep(0.1)
                if Path(profile).exists():
                    events = next(p["events"] for p in results["phases"]
                                  if f"{p['phase']}/{p['consumer']}".startswith(args.profile))
                    results["profile"] = {"phase": args.profile, **profile_summary(profile, events)}
        finally:
            server.stop()
            if client_cpu is not None:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return results


async def autovacuum_off(database_url: str) -> bool:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1), timeout=10)
    try:
        return await connection.fetchval("SHOW autovacuum") == "off"
    finally:
        await connection.close(timeout=10)


async def vacuum_queue(database_url: str) -> None:
    """What autovacuum does to a queue table between bursts, for servers that run without it (a CI
    database may): otherwise each phase pays for every earlier phase's dead rows."""
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1), timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE registry_agent_event", timeout=300)
    finally:
        await connection.close(timeout=10)


def markdown(results: dict[str, Any]) -> str:
    lines = ["| database | phase | consumer | events | events/s | server CPU µs/event | server cores | "
             "db CPU µs/event | client cores | others' cores |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for suite in results["suites"]:
        for phase in suite["phases"]:
            lines.append(f"| {suite['database']} | {phase['phase']} | {phase['consumer']} | {phase['events']} | "
                         f"{phase['events_per_s']:.0f} | {phase['server_cpu_us_per_event']} | "
                         f"{phase['server_cpu_cores']:.2f} | {phase['db_cpu_us_per_event']} | "
                         f"{phase['client_cpu_cores']:.2f} | {phase['others_cpu_cores']:.2f} |")
    lines.append("")
    for suite in results["suites"]:
        ends = [phase for phase in suite["phases"] if phase["phase"] == "end_to_end"]
        if ends:
            best = max(ends, key=lambda phase: phase["events_per_s"])
            met = "met" if best["events_per_s"] >= TARGET_EVENTS_PER_S else "NOT met"
            lines.append(f"- {suite['database']}: end to end, best consumer ({best['consumer']}) "
                         f"**{best['events_per_s']:.0f} events/s**, {best['server_cpu_us_per_event']} µs server CPU "
                         f"an event (ceiling at one full core ≈ {1e6 / max(1, best['server_cpu_us_per_event']):.0f} "
                         f"events/s); target ≥ {TARGET_EVENTS_PER_S:.0f} events/s: **{met}**.")
        for skipped in suite.get("skipped", []):
            lines.append(f"  - skipped {skipped}")
        if "profile" in suite:
            packages = suite["profile"]["by_package"]
            top = ", ".join(f"{name} {entry['share'] * 100:.0f} %" for name, entry in list(packages.items())[:8])
            lines.append(f"  - server profile of {suite['profile']['phase']} (own time by package): {top}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="agent event queue throughput (see the module docstring)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=4_000, help="events per phase (default 4000)")
    parser.add_argument("--mentions", type=int, default=1_000, help="messages in the mentions phase (default 1000)")
    parser.add_argument("--agents", type=int, default=4, help="agent instances consuming (default 4)")
    parser.add_argument("--only", action="append", metavar="PHASE[/CONSUMER]",
                        help="run only these phases (repeatable), e.g. end_to_end/socket")
    parser.add_argument("--profile", metavar="PHASE/CONSUMER", nargs="?", const="end_to_end/socket",
                        help="cProfile the server during one phase (default end_to_end/socket)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only, even with the database URL set")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only (needs the database URL)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server to CPU 1 and this script to CPU 0")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write bench/results/registry-queue-<date>.json")
    parser.add_argument("--note", help="a remark kept in the results file (what code was measured, ...)")
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.database_url, args.data_dir, args.profile_to)
        return 0
    pin, server_cpu, client_cpu = bh.pinning(args.no_pin)
    pg_url = bh.postgres_url(not args.no_postgres)
    started = dt.datetime.now(dt.UTC)
    results = bh.new_results(
        "bench/registry_queue.py", started,
        {**bh.machine_info(None), "load_generator": "aiohttp (HTTP and a lean socket.io client)"},
        {"events": args.events, "mentions": args.mentions, "agents": args.agents,
         "acks_in_flight_per_agent": ACKS_IN_FLIGHT, "producer_batch": PRODUCER_BATCH, "posters": POSTERS,
         "fetch_limit": FETCH_LIMIT, "pinned": pin, "profile": args.profile,
         "server": "uvicorn on uvloop, 1 worker, plugins auth,pods,registry + /bench/enqueue, rate limits off"},
        {"events_per_s_postgresql_min": TARGET_EVENTS_PER_S}, note=args.note)
    results["suites"] = bh.each_database(
        "registry queue", pg_url, "registry_queue",
        lambda name, url: run_suite(name, url, args, server_cpu, client_cpu), sqlite=not args.no_sqlite)
    bh.report("registry-queue", started, results, markdown(results), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
