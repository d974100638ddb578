"""Throughput of the social plugin's hot reads, against the bare Quart ceiling of ``bench/kernel_http.py``.

Run from the repository root::

    .venv/bin/python bench/social.py                    # SQLite; ~4 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/social.py                # SQLite, then PostgreSQL too

In one run, for each database, it

1. starts ``commonly serve`` with the ``auth``, ``pods`` and ``social`` plugins (1 worker, rate
   limits off; ``COMMONLY_PLUGINS`` overrides the list, and without the pods plugin installed it is
   left out) and ``bench/bare_app.py`` beside it;
2. registers 200 users; the reader makes a pod that 20 of them join, follows 20 people and 10
   threads; seeds 10,000 posts (authors take turns, one in ten in the pod), each with its ``post``
   activity as the API would record it, then adds comments, likes and a follow through the API;
3. measures with wrk, after a warm-up, in rounds whose order rotates: the bare ``GET /json`` (the
   ceiling), ``GET /api/auth/user`` (the kernel's authenticated reference route), the reader's
   ``GET /api/posts`` (20 per page) and ``GET /api/activity/feed`` (at 20 connections);
4. measures the same two routes on a second ``commonly serve`` over the same database with the
   response cache off (``COMMONLY_SOCIAL_CACHE_SECONDS=0``): what every request costs when the
   page changed since it was last served;
5. prints a markdown table and writes ``bench/results/social-<date>.json``.

Targets: ``GET /api/posts`` ≥ 40 % of the bare ceiling's req/s; the feed's p99 ≤ 100 ms at 20
concurrent clients. The servers are pinned to CPU 1 and wrk to CPU 0 (``--no-pin`` turns it off).
Only 127.0.0.1 is contacted; nothing is installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import kernel_http as bh

POSTS_TARGET = 0.40  # GET /api/posts / bare GET /json
FEED_P99_TARGET_MS = 100.0
FEED_CONNECTIONS = 20
USERS = 200
POSTS = 10_000
POD_EVERY = 10  # one post in ten goes to the reader's pod
FOLLOWED_PEOPLE = 20
POD_MEMBERS = 20
FOLLOWED_THREADS = 10
COMMENTS = 60


log = bh.log


def plugin_list() -> str:
    if os.environ.get("COMMONLY_PLUGINS"):
        return os.environ["COMMONLY_PLUGINS"]
    installed = {ep.name for ep in entry_points(group="commonly.plugins")}
    return "auth,pods,social" if "pods" in installed else "auth,social"


# -- seeding -------------------------------------------------------------------------------------


@dataclass
class Member:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api(server: Any, method: str, path: str, body: Any = None, token: str | None = None, expect: int = 200) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, raw = bh.request(server.port, method, path, body, headers, timeout=60.0)
    if status != expect:
        raise RuntimeError(f"{method} {path} answered {status} (expected {expect}): {raw[:300]!r}")
    return json.loads(raw) if raw else None


def register(server: Any, name: str) -> Member:
    body = api(server, "POST", "/api/auth/register",
               {"username": name, "email": f"{name}@example.com", "password": "bench-password-1234"}, expect=201)
    return Member(body["user"]["id"], body["user"]["username"], body["token"])


def seed(server: Any, database_url: str, pod_plugin: bool) -> dict[str, Any]:
    """Users, a pod, follows, 10,000 posts with their activities, then comments and likes."""
    users = [register(server, f"social{n}") for n in range(USERS)]
    reader = users[0]
    pod_id = None
    if pod_plugin:
        pod_id = api(server, "POST", "/api/pods", {"name": "Bench pod"}, reader.token, expect=201)["id"]
        for member in users[1:POD_MEMBERS + 1]:
            api(server, "POST", f"/api/pods/{pod_id}/join", token=member.token)
    for followed in users[1:FOLLOWED_PEOPLE + 1]:
        api(server, "POST", f"/api/users/{followed.id}/follow", token=reader.token)
    for follower in users[FOLLOWED_PEOPLE + 1:FOLLOWED_PEOPLE + 11]:
        api(server, "POST", f"/api/users/{reader.id}/follow", token=follower.token)
    global_template = api(server, "POST", "/api/posts", {"content": "template"}, users[1].token, expect=201)
    pod_template = (api(server, "POST", "/api/posts", {"content": "pod template", "podId": pod_id},
                        users[1].token, expect=201) if pod_id else global_template)
    rows = []
    for n in range(POSTS - 2):
        author = users[n % USERS]
        in_pod = pod_id is not None and n % POD_EVERY == 0 and n % USERS <= POD_MEMBERS
        template = pod_template if in_pod else global_template
        rows.append((author.id, f"Bench post {n}: notes on the release, the migration and the rollback plan.",
                     int(template["id"])))
    sqlite = database_url.startswith("sqlite://")
    mark = (lambda k: "?") if sqlite else (lambda k: f"${k}")
    author_value = mark(1) if sqlite else f"{mark(1)}::uuid"
    insert_post = (
        "INSERT INTO social_post (author_id, pod_id, content, image, tags, tag_index, category, source, like_count, "
        f"comment_count, created_at, updated_at) SELECT {author_value}, pod_id, {mark(2)}, image, tags, tag_index, "
        f"category, source, 0, 0, created_at, updated_at FROM social_post WHERE id = {mark(3)}"
    )
    bh.run_sql(database_url, [(insert_post, rows)], many=True)
    first_seeded = int(pod_template["id"]) + 1 if pod_id else int(global_template["id"]) + 1
    text = "CAST(p.author_id AS VARCHAR)" if not sqlite else "p.author_id"
    insert_activities = (
        "INSERT INTO social_activity (type, actor_id, actor_user_id, actor_name, actor_type, action, content, pod_id, "
        "visibility, post_id, created_at) SELECT 'post', " + text + ", p.author_id, u.username, 'human', "
        "CASE WHEN p.pod_id IS NULL THEN 'posted' ELSE 'posted in a pod' END, p.content, p.pod_id, "
        "CASE WHEN p.pod_id IS NULL THEN 'public' ELSE 'pod' END, p.id, p.created_at "
        f"FROM social_post AS p JOIN auth_user AS u ON u.id = p.author_id WHERE p.id >= {mark(1)} ORDER BY p.id"
    )
    bh.run_sql(database_url, [(insert_activities, [first_seeded])])
    newest = api(server, "GET", "/api/posts?limit=1", token=reader.token)[0]
    # threads: the reader posts and follows; others comment (author, thread and mention activities)
    own = [api(server, "POST", "/api/posts", {"content": f"reader's {n}"}, reader.token, expect=201)
           for n in range(FOLLOWED_THREADS)]
    for post in own:
        api(server, "POST", f"/api/posts/{post['id']}/follow", token=reader.token)
    for n in range(COMMENTS):
        post = own[n % len(own)]
        api(server, "POST", f"/api/posts/{post['id']}/comments", {"text": f"comment {n} for @{reader.username}"},
            users[1 + n % 40].token, expect=201)
        api(server, "POST", f"/api/posts/{post['id']}/like", token=users[1 + n % 40].token)
    for n in range(20):
        api(server, "POST", f"/api/posts/{newest['id']}/like", token=users[n].token)
    return {"reader": reader, "pod_id": pod_id, "posts": POSTS + FOLLOWED_THREADS}


# -- measuring -----------------------------------------------------------------------------------


def run_suite(name: str, database_url: str | None, load: Any, rounds: int, server_cpu: int | None,
              quiet_wait: float) -> dict[str, Any]:
    plugins = plugin_list()
    with tempfile.TemporaryDirectory(prefix=f"commonly-bench-social-{name}-") as tmp:
        workdir = Path(tmp)
        server = bh.commonly_server(workdir, database_url, server_cpu)
        server.env["COMMONLY_PLUGINS"] = plugins
        server.env["DATABASE_URL"] = database_url or f"sqlite://{workdir / 'commonly.sqlite3'}"
        bare = bh.bare_server(workdir, database_url, server_cpu)
        # The same app on the same database with the response cache off: what a cache miss costs.
        uncached = bh.Server("commonly-uncached", server.argv, {**server.env, "COMMONLY_SOCIAL_CACHE_SECONDS": "0"},
                             workdir / "commonly-uncached.log", server_cpu)
        processes = [bare, server, uncached]
        try:
            for process in (bare, server):
                process.start()
            bare.wait_ready("/json")
            server.wait_ready("/ready")
            started = time.perf_counter()
            seeded = seed(server, server.env["DATABASE_URL"], "pods" in plugins.split(","))
            seconds = time.perf_counter() - started
            log(f"  [{name}] seeded {USERS} users and {seeded['posts']} posts in {seconds:.1f} s")
            uncached.start()
            uncached.wait_ready("/ready")
            reader = seeded["reader"]
            targets = [
                bh.Target("bare_json", "bare Quart `GET /json` (ceiling)", bare, "/json", {},
                          lambda body: body == {"hello": "world"}),
                bh.Target("auth_user", "Commonly `GET /api/auth/user` (reference)", server, "/api/auth/user",
                          reader.headers, lambda body: body.get("id") == reader.id),
                bh.Target("posts", "Commonly `GET /api/posts` (20 per page)", server, "/api/posts", reader.headers,
                          lambda body: len(body) == 20),
                bh.Target("feed", f"Commonly `GET /api/activity/feed` (-c{FEED_CONNECTIONS})", server,
                          "/api/activity/feed", reader.headers,
                          lambda body: len(body["activities"]) == 20 and body["unreadCount"] > 0,
                          connections=FEED_CONNECTIONS),
                bh.Target("posts_uncached", "… `GET /api/posts`, response cache off", uncached, "/api/posts",
                          reader.headers, lambda body: len(body) == 20),
                bh.Target("feed_uncached", f"… `GET /api/activity/feed` (-c{FEED_CONNECTIONS}), response cache off",
                          uncached, "/api/activity/feed", reader.headers,
                          lambda body: len(body["activities"]) == 20, connections=FEED_CONNECTIONS),
            ]
            summary, runs = bh.measure_targets(name, targets, load, rounds, quiet_wait, log)
            suite = {"database": name, "targets": summary,
                     "posts_vs_bare_per_round": bh.ratio_per_round(runs, "posts")}
        finally:
            for process in processes:
                process.stop()
    suite.update({"plugins": plugins, "users": USERS, "posts": seeded["posts"], "seed_seconds": round(seconds, 2)})
    suite["posts_vs_bare"] = suite["targets"]["posts"]["vs_bare_json"]
    suite["feed_p99_ms"] = suite["targets"]["feed"]["p99_ms_median"]
    return suite


def markdown(results: dict[str, Any]) -> str:
    lines = bh.route_table(results["suites"])
    for suite in results["suites"]:
        ratio = suite["posts_vs_bare"]
        per_round = ", ".join(f"{r * 100:.0f} %" for r in suite["posts_vs_bare_per_round"])
        met = "met" if ratio >= POSTS_TARGET else "NOT met"
        feed = suite["targets"]["feed"]
        feed_met = "met" if feed["p99_ms_median"] <= FEED_P99_TARGET_MS else "NOT met"
        lines.append(f"- {suite['database']}: `GET /api/posts` ({suite['posts']:,} posts, {suite['users']} users) ÷ "
                     f"bare `/json` = **{ratio * 100:.0f} %** (per round: {per_round}); target ≥ "
                     f"{POSTS_TARGET * 100:.0f} %: **{met}**. By server CPU per request: "
                     f"{bh._pct(suite['targets']['posts']['vs_bare_json_cpu'])}.")
        lines.append(f"- {suite['database']}: `GET /api/activity/feed` at {feed['connections']} connections: p99 "
                     f"**{feed['p99_ms_median']:.1f} ms** (median of rounds; worst {feed['p99_ms_max']:.1f} ms), "
                     f"{feed['rps_median']:.0f} req/s; target p99 ≤ {FEED_P99_TARGET_MS:.0f} ms: **{feed_met}**.")
        cold_posts, cold_feed = suite["targets"]["posts_uncached"], suite["targets"]["feed_uncached"]
        posts_cpu = bh._num(cold_posts["cpu_us_per_request_median"])
        lines.append(f"- {suite['database']}, response cache off: `GET /api/posts` at "
                     f"{cold_posts['vs_bare_json'] * 100:.0f} % of bare ({posts_cpu} µs CPU per request); "
                     f"the feed's p99 {cold_feed['p99_ms_median']:.1f} ms "
                     f"({bh._num(cold_feed['cpu_us_per_request_median'])} µs CPU per request).")
    load = results["settings"]
    lines.append(f"- code: {bh.code_line(results)}; plugins: {results['suites'][0]['plugins']}.")
    lines.append(f"- load: {results['machine']['load_generator']}, -t1 -c{load['connections']} (feed "
                 f"-c{FEED_CONNECTIONS}) -d{load['duration_s']:.0f}s after a {load['warmup_s']:.0f} s warm-up, "
                 f"{load['rounds']} rounds; pinned: {load['pinned']}.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="social plugin benchmark (see the module docstring)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32; the feed: 20)")
    bh.add_wrk_arguments(parser, "social")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even when its URL is set")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    pin, server_cpu, client_cpu = bh.pinning(args.no_pin)
    load = bh.Load(1, args.connections, min(args.duration, 120.0), max(args.warmup, 0.0), client_cpu, True)
    pg_url = bh.postgres_url(not args.sqlite_only)
    started = dt.datetime.now(dt.UTC)
    results = bh.new_results(
        "bench/social.py", started, bh.machine_info(shutil.which("wrk")),
        {"threads": 1, "connections": args.connections, "feed_connections": FEED_CONNECTIONS,
         "duration_s": load.duration, "warmup_s": load.warmup, "rounds": args.rounds, "pinned": pin,
         "users": USERS, "posts": POSTS, "servers": "uvicorn, 1 worker, loop/http auto, no access log"},
        {"posts_vs_bare_min": POSTS_TARGET, "feed_p99_ms_max": FEED_P99_TARGET_MS})
    results["suites"] = bh.each_database(
        "social", pg_url, "social",
        lambda name, url: run_suite(name, url, load, args.rounds, server_cpu, args.quiet_wait))
    bh.report("social", started, results, markdown(results), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
