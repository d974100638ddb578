"""Message history throughput of the pods plugin, against the bare Quart ceiling of ``bench/http.py``.

Run from the repository root::

    .venv/bin/python bench/pods_http.py                 # SQLite; ~3 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/pods_http.py             # SQLite, then PostgreSQL too

In one run, for each database, it

1. starts ``commonly serve`` with the ``auth`` and ``pods`` plugins (1 worker, rate limits off;
   ``COMMONLY_PLUGINS`` overrides the plugin list) and ``bench/bare_app.py`` beside it;
2. registers 5 users, makes a pod they all belong to, and seeds it with 100,000 messages (one
   INSERT ... SELECT in the database itself, a few seconds; the authors take turns);
3. measures, with wrk, after a warm-up, in rounds whose order rotates: the bare ``GET /json``
   (the ceiling), ``GET /api/auth/user`` (the kernel's authenticated reference route), and the
   target ``GET /api/pods/:id/messages?limit=50`` (the newest page), plus the same page deep in
   the history (``before`` = the 50,000th id);
4. prints a markdown table and writes ``bench/results/pods-http-<date>.json``.

Target: the newest page at ≥ 40 % of the bare ceiling's req/s. The servers are pinned to CPU 1 and
wrk to CPU 0 (``--no-pin`` turns it off). Only 127.0.0.1 is contacted; nothing is installed.

The other pods benchmarks (``pods_realtime.py``, ``pods_context.py``) reuse the helpers here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kernel_http as bh

RATIO_TARGET = 0.40  # GET /api/pods/:id/messages?limit=50 / bare GET /json
MESSAGES = 100_000
AUTHORS = 5
PLUGINS = "auth,pods"


log = bh.log


# -- setting a pod up ----------------------------------------------------------------------------


@dataclass
class Member:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api(server: Any, method: str, path: str, body: Any = None, token: str | None = None,
        expect: int = 200) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, raw = bh.request(server.port, method, path, body, headers, timeout=60.0)
    if status != expect:
        raise RuntimeError(f"{method} {path} answered {status} (expected {expect}): {raw[:300]!r}")
    return json.loads(raw) if raw else None


def register(server: Any, name: str) -> Member:
    body = api(server, "POST", "/api/auth/register",
               {"username": name, "email": f"{name}@example.com", "password": "bench-password-1234"}, expect=201)
    return Member(body["user"]["id"], body["user"]["username"], body["token"])


def pod_with_members(server: Any, count: int, name: str = "Bench pod") -> tuple[str, list[Member]]:
    """A pod made by the first of ``count`` new users, the others joined."""
    members = [register(server, f"bench{n}") for n in range(count)]
    pod = api(server, "POST", "/api/pods", {"name": name}, members[0].token, expect=201)
    for member in members[1:]:
        api(server, "POST", f"/api/pods/{pod['id']}/join", token=member.token)
    return pod["id"], members


def commonly(workdir: Path, database_url: str | None, cpu: int | None, **env: str) -> Any:
    """``commonly serve`` (as ``bench/http.py`` starts it) with the pods plugin and a database
    file we can reach from here (SQLite) or the given PostgreSQL database."""
    server = bh.commonly_server(workdir, database_url, cpu)
    server.env.setdefault("COMMONLY_PLUGINS", PLUGINS)
    server.env["DATABASE_URL"] = database_url or f"sqlite://{workdir / 'commonly.sqlite3'}"
    server.env.update(env)
    return server


def seed_messages(server: Any, database_url: str, pod_id: str, members: list[Member], total: int) -> list[int]:
    """``total`` messages in the pod, authors taking turns: one real message per author through the
    API (the rows' template), then one INSERT ... SELECT in the database. Returns every id, oldest first."""
    templates = [api(server, "POST", f"/api/pods/{pod_id}/messages", {"content": f"template {n}"},
                     member.token, expect=201)["id"] for n, member in enumerate(members)]
    rounds = -(-(total - len(templates)) // len(templates))
    text = ("Bench message {i}: the deploy checklist for the api release, with notes on the "
            "database migration and the rollback plan.")
    sqlite = database_url.startswith("sqlite://")
    if sqlite:
        numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rounds}) "
        content = "'" + text.replace("{i}", "' || n.i || '") + "'"
        marks = ", ".join("?" for _ in templates)
        tail = f"FROM n, pods_message AS m WHERE m.id IN ({marks}) ORDER BY n.i, m.id"
    else:
        numbers = ""
        content = "'" + text.replace("{i}", "' || n.i || '") + "'"
        marks = ", ".join(f"${k + 1}" for k in range(len(templates)))
        tail = (f"FROM generate_series(1, {rounds}) AS n(i), pods_message AS m WHERE m.id IN ({marks}) "
                "ORDER BY n.i, m.id")
    insert = (f"{numbers}INSERT INTO pods_message (pod_id, user_id, content, message_type, attachments, "
              f"reply_to_message_id, created_at) SELECT m.pod_id, m.user_id, {content}, m.message_type, "
              f"m.attachments, NULL, m.created_at {tail}")
    bh.run_sql(database_url, [(insert, templates)])
    page = api(server, "GET", f"/api/pods/{pod_id}/messages?limit=1", token=members[0].token)
    newest = page[0]["id"]
    return list(range(templates[0], newest + 1))


# -- measuring -----------------------------------------------------------------------------------


def run_suite(name: str, database_url: str | None, load: Any, rounds: int, server_cpu: int | None,
              quiet_wait: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"commonly-bench-pods-{name}-") as tmp:
        workdir = Path(tmp)
        server = commonly(workdir, database_url, server_cpu)
        bare = bh.bare_server(workdir, database_url, server_cpu)
        try:
            for process in (bare, server):
                process.start()
            bare.wait_ready("/json")
            server.wait_ready("/ready")
            pod_id, members = pod_with_members(server, AUTHORS)
            started = time.perf_counter()
            ids = seed_messages(server, server.env["DATABASE_URL"], pod_id, members, MESSAGES)
            seeded = time.perf_counter() - started
            log(f"  [{name}] seeded {len(ids)} messages in {seeded:.1f} s")
            reader = members[1]
            middle = ids[len(ids) // 2]
            targets = [
                bh.Target("bare_json", "bare Quart `GET /json` (ceiling)", bare, "/json", {},
                          lambda body: body == {"hello": "world"}),
                bh.Target("auth_user", "Commonly `GET /api/auth/user` (reference)", server, "/api/auth/user",
                          reader.headers, lambda body: body.get("id") == reader.id),
                bh.Target("messages", "Commonly `GET /api/pods/:id/messages?limit=50` (newest page)", server,
                          f"/api/pods/{pod_id}/messages?limit=50", reader.headers,
                          lambda body: len(body) == 50 and body[-1]["id"] == ids[-1]),
                bh.Target("messages_deep", "Commonly `GET /api/pods/:id/messages?limit=50&before=<50,000th id>`",
                          server, f"/api/pods/{pod_id}/messages?limit=50&before={middle}", reader.headers,
                          lambda body: len(body) == 50 and body[-1]["id"] == middle - 1),
            ]
            summary, runs = bh.measure_targets(name, targets, load, rounds, quiet_wait, log)
        finally:
            for process in (server, bare):
                process.stop()
    return {"database": name, "targets": summary, "messages_in_pod": len(ids), "seed_seconds": round(seeded, 2),
            "plugins": server.env["COMMONLY_PLUGINS"], "target_ratio": summary["messages"]["vs_bare_json"],
            "target_ratio_per_round": bh.ratio_per_round(runs, "messages")}


def markdown(results: dict[str, Any]) -> str:
    lines = bh.route_table(results["suites"])
    for suite in results["suites"]:
        ratio = suite["target_ratio"]
        per_round = ", ".join(f"{r * 100:.0f} %" for r in suite["target_ratio_per_round"])
        met = "met" if ratio >= RATIO_TARGET else "NOT met"
        lines.append(f"- {suite['database']}: `GET /api/pods/:id/messages?limit=50` on a pod of "
                     f"{suite['messages_in_pod']:,} messages ÷ bare `/json` = **{ratio * 100:.0f} %** "
                     f"(per round: {per_round}); target ≥ {RATIO_TARGET * 100:.0f} %: **{met}**. "
                     f"By server CPU per request: {bh._pct(suite['targets']['messages']['vs_bare_json_cpu'])}.")
    load = results["settings"]
    lines.append(f"- code: {bh.code_line(results)}; plugins: {results['suites'][0]['plugins']}.")
    lines.append(f"- load: {results['machine']['load_generator']}, -t{load['threads']} -c{load['connections']} "
                 f"-d{load['duration_s']:.0f}s after a {load['warmup_s']:.0f} s warm-up, {load['rounds']} rounds; "
                 f"pinned: {load['pinned']}.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="pods message history benchmark (see the module docstring)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    bh.add_wrk_arguments(parser, "pods-http")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    pin, server_cpu, client_cpu = bh.pinning(args.no_pin)
    load = bh.Load(1, args.connections, min(args.duration, 120.0), max(args.warmup, 0.0), client_cpu, True)
    pg_url = bh.postgres_url()
    started = dt.datetime.now(dt.UTC)
    results = bh.new_results(
        "bench/pods_http.py", started, bh.machine_info(shutil.which("wrk")),
        {"threads": 1, "connections": args.connections, "duration_s": load.duration, "warmup_s": load.warmup,
         "rounds": args.rounds, "pinned": pin, "messages": MESSAGES, "authors": AUTHORS,
         "servers": "uvicorn, 1 worker, loop/http auto, no access log"},
        {"messages_vs_bare_min": RATIO_TARGET})
    results["suites"] = bh.each_database(
        "pods message history", pg_url, "pods",
        lambda name, url: run_suite(name, url, load, args.rounds, server_cpu, args.quiet_wait))
    bh.report("pods-http", started, results, markdown(results), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
