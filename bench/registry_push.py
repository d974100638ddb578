"""Mention → agent socket push latency, with 50 agents connected to ``/agents``.

Run from the repository root::

    .venv/bin/python bench/registry_push.py             # SQLite; ~1 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/registry_push.py         # SQLite, then PostgreSQL too

For each database it starts the server of ``bench/registry_queue.py`` (uvicorn, 1 worker, plugins
``auth``, ``pods``, ``registry``, pinned to CPU 1; this script on CPU 0), installs 50 instances of one
agent in one pod (``agent-00`` … ``agent-49``), issues each a runtime token and connects each with a
python-socketio client to ``/agents``. Then:

- **single**: a person posts ``--mentions`` messages over REST, one at a time, each mentioning one
  agent (round robin); latency = from just before the POST is sent to the moment that agent's
  socket receives the ``event`` (the client's clock; both ends are in this process). The POST's own
  round trip is reported beside it.
- **fan-out**: ``--fanout`` messages that each mention all 50 agents; latency to each of the 50 pushes.

Each agent acks every event over its socket. The first ``--warmup`` mentions are not recorded.
Writes ``bench/results/registry-push-<date>.json``. Target: p99 ≤ 50 ms (single).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import kernel_http as bh
import registry_queue as rq

P99_TARGET_MS = 50.0
AGENTS = 50


log = bh.log


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"count": len(ordered), "p50_ms": round(at(0.50) * 1000, 2), "p90_ms": round(at(0.90) * 1000, 2),
            "p99_ms": round(at(0.99) * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2)}


async def measure(url: str, mentions: int, fanout: int, warmup: int) -> dict[str, Any]:
    import httpx
    import socketio

    setup = await rq.prepare(url, AGENTS)
    arrivals: dict[tuple[int, str], float] = {}
    waiters: dict[tuple[int, str], asyncio.Event] = {}
    clients = []

    def on_event_for(instance: str, sio: Any) -> Any:
        async def on_event(event: dict[str, Any]) -> None:
            key = (event["payload"]["messageId"], instance)
            arrivals[key] = time.perf_counter()
            if key in waiters:
                waiters[key].set()
            await sio.emit("ack", {"eventId": event["id"]}, namespace="/agents")

        return on_event

    for instance, token in setup.agents:
        sio = socketio.AsyncClient(reconnection=False)
        sio.on("event", on_event_for(instance, sio), namespace="/agents")
        await sio.connect(url, namespaces=["/agents"], transports=["websocket"], auth={"token": token},
                          wait_timeout=10)
        clients.append(sio)

    single: list[float] = []
    posts: list[float] = []
    fan: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        path = f"/api/pods/{setup.pod_id}/messages"
        for n in range(warmup + mentions):
            instance = setup.agents[n % AGENTS][0]
            started = time.perf_counter()
            response = await http.post(path, json={"content": f"@{instance} ping {n}"}, headers=setup.person)
            posted = time.perf_counter()
            key = (response.raise_for_status().json()["id"], instance)
            if key not in arrivals:
                waiters[key] = asyncio.Event()
                await asyncio.wait_for(waiters[key].wait(), 10)
            if n >= warmup:
                single.append(arrivals[key] - started)
                posts.append(posted - started)
        everyone = " ".join(f"@{instance}" for instance, _ in setup.agents)
        for n in range(fanout):
            started = time.perf_counter()
            response = await http.post(path, json={"content": f"{everyone} all hands {n}"}, headers=setup.person)
            message_id = response.raise_for_status().json()["id"]
            keys = [(message_id, instance) for instance, _ in setup.agents]
            for key in keys:
                if key not in arrivals:
                    waiters[key] = asyncio.Event()
            await asyncio.wait_for(asyncio.gather(*(waiters[key].wait() for key in keys if key in waiters)), 30)
            fan.extend(arrivals[key] - started for key in keys)
    for sio in clients:
        await sio.disconnect()
    return {"single": percentiles(single), "single_post_round_trip": percentiles(posts),
            "fanout": percentiles(fan) if fan else None}


def run_suite(name: str, database_url: str | None, args: argparse.Namespace, server_cpu: int | None,
              client_cpu: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"commonly-bench-push-{name}-") as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite://{workdir / 'commonly.sqlite3'}"
        argv = [sys.executable, str(Path(rq.__file__).resolve()), "--serve", "--database-url", url,
                "--data-dir", str(workdir)]
        server = bh.Server("registry", argv, bh.clean_env(), workdir / "server.log", server_cpu)
        server.start()
        try:
            server.wait_ready("/ready")
            if client_cpu is not None:
                os.sched_setaffinity(0, {client_cpu})
            before = (time.perf_counter(), bh._process_seconds(server.proc.pid))
            result = asyncio.run(measure(f"http://{bh.HOST}:{server.port}", args.mentions, args.fanout, args.warmup))
            wall, cpu = (b - a for a, b in zip(before, (time.perf_counter(), bh._process_seconds(server.proc.pid)),
                                                 strict=True))
            result["server_cpu_cores"] = round(cpu / wall, 3)
        finally:
            server.stop()
            if client_cpu is not None:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    single, fan = result["single"], result["fanout"]
    log(f"  [{name}] single: p50 {single['p50_ms']} ms  p99 {single['p99_ms']} ms  max {single['max_ms']} ms "
        f"(POST round trip p50 {result['single_post_round_trip']['p50_ms']} ms)")
    if fan:
        log(f"  [{name}] fan-out to {AGENTS}: p50 {fan['p50_ms']} ms  p99 {fan['p99_ms']} ms  max {fan['max_ms']} ms")
    return {"database": name, **result}


def markdown(results: dict[str, Any]) -> str:
    lines = ["| database | case | samples | p50 ms | p90 ms | p99 ms | max ms |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for suite in results["suites"]:
        for case, label in (("single", "mention → push (one agent)"), ("single_post_round_trip", "POST round trip"),
                            ("fanout", f"one message → {AGENTS} pushes")):
            entry = suite.get(case)
            if entry:
                lines.append(f"| {suite['database']} | {label} | {entry['count']} | {entry['p50_ms']} | "
                             f"{entry['p90_ms']} | {entry['p99_ms']} | {entry['max_ms']} |")
    lines.append("")
    for suite in results["suites"]:
        p99 = suite["single"]["p99_ms"]
        met = "met" if p99 <= P99_TARGET_MS else "NOT met"
        lines.append(f"- {suite['database']}: mention → push p99 **{p99} ms**; "
                     f"target ≤ {P99_TARGET_MS:.0f} ms: **{met}**.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="mention → agent push latency (see the module docstring)")
    parser.add_argument("--mentions", type=int, default=1000, help="single mentions measured (default 1000)")
    parser.add_argument("--fanout", type=int, default=10, help="messages mentioning all 50 agents (default 10)")
    parser.add_argument("--warmup", type=int, default=50, help="mentions before measuring (default 50)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server to CPU 1 and this script to CPU 0")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/registry-push-<date>.json")
    parser.add_argument("--note", help="a remark kept in the results file (what code was measured, ...)")
    args = parser.parse_args()
    pin, server_cpu, client_cpu = bh.pinning(args.no_pin)
    pg_url = bh.postgres_url()
    started = dt.datetime.now(dt.UTC)
    results = bh.new_results(
        "bench/registry_push.py", started, {**bh.machine_info(None), "load_generator": "httpx + python-socketio"},
        {"agents": AGENTS, "mentions": args.mentions, "fanout_messages": args.fanout, "warmup": args.warmup,
         "pinned": pin, "server": "uvicorn on uvloop, 1 worker, plugins auth,pods,registry, rate limits off"},
        {"single_p99_ms_max": P99_TARGET_MS}, note=args.note)
    results["suites"] = bh.each_database(
        "registry push", pg_url, "registry_push", lambda name, url: run_suite(name, url, args, server_cpu, client_cpu))
    bh.report("registry-push", started, results, markdown(results), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
