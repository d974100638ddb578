"""Agent event queue throughput end to end: events enqueued, fetched and acked per second.

Run from the repository root::

    .venv/bin/python bench/registry_queue.py            # SQLite; ~1 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/registry_queue.py        # SQLite, then PostgreSQL too

For each database it starts one server process (uvicorn, 1 worker, plugins ``auth``, ``pods``,
``registry``, rate limits off, pinned to CPU 1; this script runs on CPU 0) with one extra route,
``POST /bench/enqueue {podId, agentName, instanceId, count}``, that calls the registry's public
service ``commonly_registry.enqueue_event`` ``count`` times — what other plugins do. It installs
``--agents`` instances of one agent in a pod, issues each a runtime token, and measures:

- **end to end, public service**: a producer enqueues ``--events`` events through ``/bench/enqueue``
  (100 a request) while one consumer per instance loops ``GET /api/agents/runtime/events?limit=100``
  and ``POST .../events/:id/ack`` for each (8 acks in flight per consumer); from the first enqueue to
  the last ack. Every event must end ``delivered``.
- **end to end, dev route**: the same with one ``POST /api/dev/agents/events`` per event (8 in flight).
- the parts alone: **enqueue only** (public service, no consumers) and **fetch + ack only** (a full
  queue drained).

Besides events/s it reads the server's CPU time from ``/proc`` (CPU µs per event) and this script's
own, since the HTTP client shares the machine. ``--profile`` runs the server under cProfile for the
public-service run and prints where its time goes. Writes ``bench/results/registry-queue-<date>.json``.
Target: ≥ 1,000 events/s end to end on PostgreSQL. Only 127.0.0.1 is contacted; nothing is installed.
"""

from __future__ import annotations

# ruff: noqa: E402  (the sys.path fix below must run before the other imports)
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import pstats
import tempfile
import time
from types import ModuleType
from typing import Any


def _load(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TARGET_EVENTS_PER_S = 1_000.0
PLUGINS = "auth,pods,registry"
AGENT = "bench-agent"
ACKS_IN_FLIGHT = 8
PRODUCER_BATCH = 100


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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

    asyncio.run(run())


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


async def produce_service(http: Any, setup: Setup, total: int) -> None:
    per_agent = total // len(setup.agents)
    for start in range(0, per_agent, PRODUCER_BATCH):
        count = min(PRODUCER_BATCH, per_agent - start)
        for instance, _ in setup.agents:
            body = {"podId": setup.pod_id, "agentName": AGENT, "instanceId": instance, "count": count}
            (await http.post("/bench/enqueue", json=body, headers=setup.person)).raise_for_status()


async def produce_dev(http: Any, setup: Setup, total: int) -> None:
    per_agent = total // len(setup.agents)
    bodies = [{"podId": setup.pod_id, "agentName": AGENT, "instanceId": instance, "type": "bench.tick",
               "payload": {"n": n}} for n in range(per_agent) for instance, _ in setup.agents]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            (await http.post("/api/dev/agents/events", json=body, headers=setup.person)).raise_for_status()

    await asyncio.gather(*(worker() for _ in range(ACKS_IN_FLIGHT)))


async def consume(http: Any, token: str, expected: int, producing: asyncio.Event | None) -> int:
    """Fetch and ack until ``expected`` events of this instance were acked."""
    headers = {"Authorization": f"Bearer {token}"}
    acked = 0
    gate = asyncio.Semaphore(ACKS_IN_FLIGHT)

    async def ack(event_id: int) -> None:
        async with gate:
            (await http.post(f"/api/agents/runtime/events/{event_id}/ack", json={"result": {"outcome": "no_action"}},
                             headers=headers)).raise_for_status()

    deadline = time.monotonic() + 600
    while acked < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"consumer stuck at {acked}/{expected}")
        response = await http.get("/api/agents/runtime/events", params={"limit": 100}, headers=headers)
        events = response.raise_for_status().json()["events"]
        if not events:
            await asyncio.sleep(0.005)
            continue
        await asyncio.gather(*(ack(event["id"]) for event in events))
        acked += len(events)
    return acked


async def run_phase(setup: Setup, server_pid: int, kind: str, total: int) -> dict[str, Any]:
    import httpx

    bh = sys.modules["commonly_bench_http"]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=setup.url, timeout=60, limits=limits) as http:
        per_agent = total // len(setup.agents)
        total = per_agent * len(setup.agents)
        before = (time.perf_counter(), bh._process_seconds(server_pid), bh._own_seconds())
        if kind == "enqueue_only":
            await produce_service(http, setup, total)
        elif kind == "fetch_ack_only":
            await asyncio.gather(*(consume(http, token, per_agent, None) for _, token in setup.agents))
        else:
            producer = produce_service if kind == "service" else produce_dev
            await asyncio.gather(producer(http, setup, total),
                                 *(consume(http, token, per_agent, None) for _, token in setup.agents))
        after = (time.perf_counter(), bh._process_seconds(server_pid), bh._own_seconds())
    wall, server_cpu, own_cpu = (b - a for a, b in zip(before, after, strict=True))
    return {"phase": kind, "events": total, "seconds": round(wall, 3), "events_per_s": round(total / wall, 1),
            "server_cpu_cores": round(server_cpu / wall, 3), "server_cpu_us_per_event": round(server_cpu * 1e6 / total),
            "client_cpu_cores": round(own_cpu / wall, 3), "client_cpu_us_per_event": round(own_cpu * 1e6 / total)}


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
                         ("socketio", "socketio/engineio"), ("engineio", "socketio/engineio"),
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


def run_suite(name: str, database_url: str | None, args: argparse.Namespace, server_cpu: int | None,
              client_cpu: int | None) -> dict[str, Any]:
    bh = sys.modules["commonly_bench_http"]
    results: dict[str, Any] = {"database": name, "phases": []}
    phases = [("service", args.events), ("dev_route", args.dev_events), ("enqueue_only", args.events),
              ("fetch_ack_only", args.events)]
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
            for kind, total in phases:
                if profile and kind == "service":
                    Path(profile + ".start").touch()
                result = asyncio.run(run_phase(setup, server.proc.pid, kind, total))
                if profile and kind == "service":
                    Path(profile + ".stop").touch()
                log(f"  [{name}] {kind:<15} {result['events']:6d} events  {result['events_per_s']:8.1f} events/s  "
                    f"server {result['server_cpu_us_per_event']:5d} µs/event ({result['server_cpu_cores']:.2f} cores)  "
                    f"client {result['client_cpu_us_per_event']:5d} µs/event ({result['client_cpu_cores']:.2f} cores)")
                results["phases"].append(result)
            if profile:
                for _ in range(100):
                    if Path(profile).exists():
                        break
                    time.sleep(0.1)
                results["profile_service_phase"] = profile_summary(profile, args.events)
        finally:
            server.stop()
            if client_cpu is not None:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = ["| database | phase | events | events/s | server CPU µs/event | server cores | client cores |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for suite in results["suites"]:
        for phase in suite["phases"]:
            lines.append(f"| {suite['database']} | {phase['phase']} | {phase['events']} | "
                         f"{phase['events_per_s']:.0f} | "
                         f"{phase['server_cpu_us_per_event']} | {phase['server_cpu_cores']:.2f} | "
                         f"{phase['client_cpu_cores']:.2f} |")
    lines.append("")
    for suite in results["suites"]:
        service = next(phase for phase in suite["phases"] if phase["phase"] == "service")
        met = "met" if service["events_per_s"] >= TARGET_EVENTS_PER_S else "NOT met"
        lines.append(f"- {suite['database']}: end to end (public service) **{service['events_per_s']:.0f} events/s**; "
                     f"target ≥ {TARGET_EVENTS_PER_S:.0f} events/s (PostgreSQL): **{met}**.")
        if "profile_service_phase" in suite:
            packages = suite["profile_service_phase"]["by_package"]
            top = ", ".join(f"{name} {entry['share'] * 100:.0f} %" for name, entry in list(packages.items())[:8])
            lines.append(f"  - server profile (own time by package): {top}")
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
    parser.add_argument("--dev-events", type=int, default=2_000, help="events in the dev-route phase (default 2000)")
    parser.add_argument("--agents", type=int, default=4, help="agent instances consuming (default 4)")
    parser.add_argument("--profile", action="store_true", help="cProfile the server during the public-service run")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server to CPU 1 and this script to CPU 0")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write bench/results/registry-queue-<date>.json")
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.database_url, args.data_dir, args.profile_to)
        return 0
    bh = _load("commonly_bench_http", "http.py")
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (1, 0) if pin else (None, None)
    pg_url = os.environ.get("COMMONLY_BENCH_DATABASE_URL")
    if pg_url:
        bh.check_loopback(pg_url)
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "benchmark": "bench/registry_queue.py", "date": started.isoformat(timespec="seconds"),
        "code": bh.code_info(), "machine": {**bh.machine_info(None), "load_generator": "httpx (this script)"},
        "settings": {"events": args.events, "dev_events": args.dev_events, "agents": args.agents,
                     "acks_in_flight_per_agent": ACKS_IN_FLIGHT, "producer_batch": PRODUCER_BATCH,
                     "fetch_limit": 100, "pinned": pin, "profile": args.profile,
                     "server": "uvicorn, 1 worker, plugins auth,pods,registry + /bench/enqueue, rate limits off"},
        "targets": {"events_per_s_postgresql_min": TARGET_EVENTS_PER_S},
        "suites": [],
    }
    log("registry queue (sqlite) ...")
    results["suites"].append(run_suite("sqlite", None, args, server_cpu, client_cpu))
    if pg_url:
        log("registry queue (postgresql) ...")
        with bh.scratch_database(pg_url, "registry_queue") as url:
            results["suites"].append(run_suite("postgresql", url, args, server_cpu, client_cpu))
    table = markdown(results)
    results["markdown"] = table
    print(table)
    if not args.no_write:
        RESULTS = BENCH / "results"
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"registry-queue-{started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"wrote {path.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
