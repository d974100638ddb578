"""Latency of the pod context (``GET /api/pods/:id/context?skillMode=heuristic``) on a pod with
5,000 assets, with and without a ``task``, beside the bare Quart ceiling of ``bench/kernel_http.py``.

Run from the repository root::

    .venv/bin/python bench/pods_context.py              # SQLite; ~2 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/pods_context.py          # SQLite, then PostgreSQL too

In one run, for each database, it

1. starts ``commonly serve`` with ``auth`` and ``pods`` (1 worker, rate limits off) and the bare app;
2. makes a pod, creates 10 assets through the API (summaries, notes, memories, daily logs, links,
   docs, an imported skill; each with its own tags) and copies them in the database into 5,000 active
   assets of about 1 KB each, with varied titles, words and tags (one INSERT ... SELECT);
3. times the **cold** request: the first context request after an asset write, when the process
   reloads the pod's memory index (5 times, each after a write through the API);
4. measures with wrk, after a warm-up, in rotating rounds, at ``--connections`` (default 1: the
   latency a single caller sees) and at 8 connections (throughput under load): the bare ``GET
   /json``, the context without a task, and with ``task=deploy the api release checklist``;
5. prints a markdown table and writes ``bench/results/pods-context-<date>.json``.

Target: p99 ≤ 100 ms for the warm context requests (one caller at a time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kernel_http as bh
import pods_http as ph

log = bh.log

ASSETS = 5_000
P99_TARGET_MS = 100.0
TASK = "deploy the api release checklist"
COLD_RUNS = 5
TEMPLATES = [
    ("summary", "Weekly summary", ["weekly", "summary", "release"]),
    ("integration-summary", "Slack digest", ["slack", "digest"]),
    ("note", "Deploy notes", ["deploy", "api", "ops"]),
    ("note", "Design review", ["design", "frontend"]),
    ("memory", "Team preferences", ["team", "process"]),
    ("daily-log", "Daily log", ["daily", "standup"]),
    ("link", "Runbook link", ["runbook", "ops", "oncall"]),
    ("doc", "Release checklist", ["release", "checklist", "deploy"]),
    ("doc", "Database guide", ["database", "migration", "postgres"]),
    ("skill", "Imported skill: triage", ["triage", "support"]),
]
WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
    "xray", "yankee", "zulu",
]


def seed_assets(server: Any, database_url: str, pod_id: str, owner: Any, total: int) -> None:
    """``len(TEMPLATES)`` assets through the API, copied in the database into ``total``."""
    body = " ".join(f"{WORDS[n % len(WORDS)]}{n % 97}" for n in range(140))  # ~1 KB of varied words
    templates = []
    for kind, title, tags in TEMPLATES:
        fields = {"type": kind, "title": title, "content": f"{title}. {body}", "tags": tags,
                  "sourceType": "import" if kind == "skill" else "bench"}
        templates.append(int(ph.api(server, "POST", f"/api/pods/{pod_id}/assets", fields, owner.token,
                                    expect=201)["id"]))
    rounds = -(-(total - len(templates)) // len(templates))
    sqlite = database_url.startswith("sqlite://")
    marks = ", ".join("?" if sqlite else f"${k + 1}" for k in range(len(templates)))
    # Every copy gets its own title and a few words and one tag of its own (topic<i mod 60>).
    if sqlite:
        numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rounds}) "
        source = "FROM n, pods_asset AS a"
        tags = "json_insert(a.tags, '$[#]', 'topic' || (n.i % 60))"
    else:
        numbers = ""
        source = f"FROM generate_series(1, {rounds}) AS n(i), pods_asset AS a"
        tags = "a.tags || jsonb_build_array('topic' || (n.i % 60))"
    insert = (
        f"{numbers}INSERT INTO pods_asset (pod_id, type, title, content, tags, source_type, source_ref, metadata, "
        "scope, agent_key, status, created_by_type, created_by_id, created_at, updated_at) "
        "SELECT a.pod_id, a.type, a.title || ' #' || n.i, "
        "'item' || n.i || ' topic' || (n.i % 60) || ' ' || a.content, "
        f"{tags}, a.source_type, a.source_ref, a.metadata, a.scope, a.agent_key, a.status, a.created_by_type, "
        f"a.created_by_id, a.created_at, a.updated_at {source} WHERE a.id IN ({marks}) ORDER BY n.i, a.id"
    )
    bump = "UPDATE pods_pod SET memory_version = memory_version + 1 WHERE id = " + ("?" if sqlite else "$1")
    bh.run_sql(database_url, [(insert, templates), (bump, [pod_id if sqlite else uuid.UUID(pod_id)])])


def cold_times(server: Any, pod_id: str, owner: Any, runs: int) -> list[float]:
    """ms of the first context request after an asset write (the process reloads the index)."""
    times = []
    for run in range(runs):
        ph.api(server, "POST", f"/api/pods/{pod_id}/assets", {"type": "note", "title": f"cold {run}",
                                                               "content": "a write", "tags": ["cold"]},
               owner.token, expect=201)
        started = time.perf_counter()
        ph.api(server, "GET", f"/api/pods/{pod_id}/context?skillMode=heuristic", token=owner.token)
        times.append((time.perf_counter() - started) * 1000)
    return times


def run_suite(name: str, database_url: str | None, loads: list[Any], rounds: int, server_cpu: int | None,
              quiet_wait: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"commonly-bench-context-{name}-") as tmp:
        workdir = Path(tmp)
        server = ph.commonly(workdir, database_url, server_cpu)
        bare = bh.bare_server(workdir, database_url, server_cpu)
        try:
            for process in (bare, server):
                process.start()
            bare.wait_ready("/json")
            server.wait_ready("/ready")
            pod_id, (owner,) = ph.pod_with_members(server, 1)
            started = time.perf_counter()
            seed_assets(server, server.env["DATABASE_URL"], pod_id, owner, ASSETS)
            log(f"  [{name}] seeded {ASSETS} assets in {time.perf_counter() - started:.1f} s")
            cold = cold_times(server, pod_id, owner, COLD_RUNS)
            log(f"  [{name}] cold (first request after a write): " + ", ".join(f"{t:.0f}" for t in cold) + " ms")
            base = f"/api/pods/{pod_id}/context?skillMode=heuristic"
            count = ASSETS + COLD_RUNS

            def full(body: Any) -> bool:
                return body["stats"]["assets"] == 12 and body["skillModeUsed"] == "heuristic"

            targets = [
                bh.Target("bare_json", "bare Quart `GET /json` (ceiling)", bare, "/json", {},
                          lambda body: body == {"hello": "world"}),
                bh.Target("context", "`GET /api/pods/:id/context?skillMode=heuristic`", server, base,
                          owner.headers, full),
                bh.Target("context_task", f"… `&task={TASK}`", server, f"{base}&task={quote(TASK)}",
                          owner.headers, lambda body: full(body) and body["task"] == TASK),
            ]
            measured = []
            for load in loads:
                log(f"  [{name}] {load.connections} connection(s)")
                summary, _runs = bh.measure_targets(name, targets, load, rounds, quiet_wait, log)
                measured.append({"connections": load.connections, "database": name, "targets": summary})
        finally:
            for process in (server, bare):
                process.stop()
    return {"database": name, "assets_in_pod": count, "cold_ms": [round(t, 1) for t in cold],
            "cold_ms_median": round(statistics.median(cold), 1), "loads": measured}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| database | connections | route | req/s (median) | p50 ms | p99 ms | vs bare `/json` | server CPU "
        "| CPU µs/req | others' CPU (max) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for suite in results["suites"]:
        for load in suite["loads"]:
            for entry in load["targets"].values():
                errors = " (!! errors)" if entry["non_2xx"] or entry["socket_errors"] else ""
                lines.append(
                    f"| {suite['database']} | {load['connections']} | {entry['label']}{errors} | "
                    f"{entry['rps_median']:.0f} | {entry['p50_ms_median']:.2f} | {entry['p99_ms_median']:.2f} | "
                    f"{entry['vs_bare_json'] * 100:.0f} % | {bh._cores(entry['server_cpu_median'])} | "
                    f"{bh._num(entry['cpu_us_per_request_median'])} | {bh._cores(entry['others_cpu_max'])} |")
    lines.append("")
    for suite in results["suites"]:
        single = suite["loads"][0]
        worst = max(single["targets"][key]["p99_ms_median"] for key in ("context", "context_task"))
        met = "met" if worst <= P99_TARGET_MS else "NOT met"
        lines.append(f"- {suite['database']}: {suite['assets_in_pod']:,} assets; warm p99 at "
                     f"{single['connections']} connection(s): without task "
                     f"{single['targets']['context']['p99_ms_median']:.1f} ms, with task "
                     f"{single['targets']['context_task']['p99_ms_median']:.1f} ms; target ≤ {P99_TARGET_MS:.0f} ms: "
                     f"**{met}**. Cold (first request after an asset write, index reload): "
                     + ", ".join(f"{t:.0f}" for t in suite["cold_ms"]) + " ms.")
    settings = results["settings"]
    lines.append(f"- code: {bh.code_line(results)}; load: {results['machine']['load_generator']}, "
                 f"-t1 -d{settings['duration_s']:.0f}s after a {settings['warmup_s']:.0f} s warm-up, "
                 f"{settings['rounds']} rounds; pinned: {settings['pinned']}.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="pod context latency benchmark (see the module docstring)")
    parser.add_argument("--connections", type=int, default=1, help="wrk connections for the latency run (default 1)")
    parser.add_argument("--load-connections", type=int, default=8,
                        help="wrk connections for the throughput run (default 8; 0 = skip it)")
    bh.add_wrk_arguments(parser, "pods-context")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    pin, server_cpu, client_cpu = bh.pinning(args.no_pin)
    duration, warmup = min(args.duration, 120.0), max(args.warmup, 0.0)
    loads = [bh.Load(1, args.connections, duration, warmup, client_cpu, True)]
    if args.load_connections:
        loads.append(bh.Load(1, args.load_connections, duration, warmup, client_cpu, True))
    pg_url = bh.postgres_url()
    started = dt.datetime.now(dt.UTC)
    results = bh.new_results(
        "bench/pods_context.py", started, bh.machine_info(shutil.which("wrk")),
        {"connections": [load.connections for load in loads], "duration_s": duration, "warmup_s": warmup,
         "rounds": args.rounds, "pinned": pin, "assets": ASSETS, "task": TASK, "plugins": ph.PLUGINS,
         "servers": "uvicorn, 1 worker, loop/http auto, no access log"},
        {"context_p99_ms_max": P99_TARGET_MS})
    results["suites"] = bh.each_database(
        "pod context", pg_url, "context",
        lambda name, url: run_suite(name, url, loads, args.rounds, server_cpu, args.quiet_wait))
    bh.report("pods-context", started, results, markdown(results), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
