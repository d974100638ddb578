"""HTTP throughput, latency and boot time of ``commonly serve``, against a bare Quart ceiling.

Run from the repository root::

    .venv/bin/python bench/kernel_http.py                      # SQLite; ~2.5 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/kernel_http.py                  # SQLite, then PostgreSQL too

In one run it

1. starts ``commonly serve`` (uvicorn, 1 worker, a fresh SQLite file in a temp dir, rate limits
   off, access log quiet) and ``bench/bare_app.py`` (bare Quart, same uvicorn arguments);
2. registers a user to get a token;
3. measures req/s and p50/p99 latency of the bare ``GET /json`` (the ceiling), the bare
   ``GET /raw`` and ``GET /select`` (Quart + one read of one row, as constant SQL and through the
   Tortoise ORM: what a database read costs without the kernel), ``GET /health`` and the
   authenticated ``GET /api/auth/user``, each after a warm-up, in interleaved rounds, with wrk
   (``apt-get install -y wrk``) or, when wrk is missing, a bounded async httpx load generator;
4. measures boot time: spawning ``commonly serve`` to the first 200 from ``/ready``, 3 times;
5. prints a markdown table and writes ``bench/results/http-<date>.json``.

By default the servers are pinned to CPU 1 and the load generator to CPU 0 (``--no-pin`` to
turn it off), so on a 2-core machine each gets a core of its own. Every wait is bounded, and only
127.0.0.1 is ever contacted. Nothing is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent

RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

RATIO_TARGET = 0.50  # GET /api/auth/user / bare GET /json
BOOT_TARGET = 2.0  # seconds, spawn -> first 200 from /ready
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
HTTPX_MAX_CONNECTIONS = 8
NOISY_CORES = 0.15  # CPU used by other processes during a measurement, in cores
QUIET_CORES = 0.10  # "the machine is quiet" before a measurement, in cores

USER = {"username": "bench", "email": "bench@example.com", "password": "bench-password-1234"}


# -- small HTTP helpers (stdlib, loopback only) --------------------------------------------------


def request(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# -- servers -------------------------------------------------------------------------------------


def _pin_to(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


@dataclass
class Server:
    """A server process we started; stopped by its own pid only."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cpu: int | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    def start(self) -> None:
        argv = [*self.argv, "--host", HOST, "--port", str(self.port)]
        self._log = self.log_path.open("ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_pin_to(self.cpu))

    def wait_ready(self, path: str, timeout: float = READY_TIMEOUT) -> float:
        """Poll ``path`` every 10 ms until it answers 200; seconds since ``start()``."""
        assert self.proc is not None
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = request(self.port, "GET", path, timeout=1.0)
                if status == 200:
                    return time.perf_counter() - self.started
            time.sleep(0.01)
        raise RuntimeError(
            f"{self.name} did not answer 200 on {path} within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        with contextlib.suppress(AttributeError):
            self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Commonly/database settings of the caller, plus ``extra``."""
    dropped = {"DATABASE_URL", "REDIS_URL", "JWT_SECRET"}
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("COMMONLY_", "BARE_")) and key not in dropped}
    if os.environ.get("COMMONLY_PLUGINS") is not None:  # keep an explicit plugin selection
        env["COMMONLY_PLUGINS"] = os.environ["COMMONLY_PLUGINS"]
    env.update(extra)
    return env


def commonly_server(workdir: Path, database_url: str | None, cpu: int | None,
                    name: str = "commonly") -> Server:
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = clean_env(COMMONLY_DATA_DIR=str(data_dir), JWT_SECRET=secrets.token_urlsafe(48),
                    COMMONLY_RATE_LIMITS="0", COMMONLY_LOG_LEVEL="WARNING", COMMONLY_ENV="development")
    if database_url:
        env["DATABASE_URL"] = database_url
    return Server(name, [str(VENV_BIN / "commonly"), "serve", "--workers", "1"], env,
                  workdir / f"{name}.log", cpu)


def bare_server(workdir: Path, database_url: str | None, cpu: int | None) -> Server:
    url = database_url or f"sqlite://{workdir / 'bare.sqlite3'}"
    return Server("bare", [sys.executable, str(BENCH / "bare_app.py")], clean_env(BARE_DATABASE_URL=url),
                  workdir / "bare.log", cpu)


# -- load generators -----------------------------------------------------------------------------


@dataclass
class Load:
    threads: int
    connections: int
    duration: float
    warmup: float
    cpu: int | None
    use_wrk: bool


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, p50/p99 (ms), request count, non-2xx and socket errors from ``wrk --latency``."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\b", output, re.M)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\b", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(*p50.groups()),
        "p99_ms": _ms(*p99.groups()),
        "requests": int(total.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in sock.groups()) if sock else 0,
    }


def run_wrk(url: str, headers: dict[str, str], load: Load, duration: float) -> dict[str, Any]:
    argv = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{max(1, round(duration))}s",
            "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30,
                          preexec_fn=_pin_to(load.cpu), check=True)
    return parse_wrk(done.stdout)


async def _httpx_load(url: str, headers: dict[str, str], connections: int, duration: float) -> dict[str, Any]:
    import httpx

    # httpx's pool gets slower per request as more requests wait on it (measured here: ~700 req/s
    # with 8 connections, ~220 req/s with 32, the client at 100 % CPU either way), so cap it.
    connections = min(connections, HTTPX_MAX_CONNECTIONS)
    latencies: list[float] = []
    counts = {"non_2xx": 0, "socket_errors": 0}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=5.0, headers=headers) as client:
        started = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        deadline = started + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    counts["socket_errors"] += 1
                    continue
                latencies.append((time.perf_counter() - sent) * 1000)
                if not 200 <= response.status_code < 400:
                    counts["non_2xx"] += 1

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), duration + 15)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime) / elapsed
    latencies.sort()
    if not latencies:
        raise RuntimeError(f"no request to {url} succeeded")

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"rps": len(latencies) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "requests": len(latencies), "connections": connections, "client_cpu": round(client_cpu, 2),
            **counts}


def run_httpx(url: str, headers: dict[str, str], load: Load, duration: float) -> dict[str, Any]:
    return asyncio.run(_httpx_load(url, headers, load.connections, duration))


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine (all cores, all processes) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(n) for n in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _process_seconds(pid: int) -> float:
    """CPU seconds used by one process (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _own_seconds() -> float:
    """CPU seconds of this process and its finished children (wrk)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure(url: str, headers: dict[str, str], load: Load, server_pid: int,
            quiet_wait: float = 0.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """One warm-up, then one measurement, with where the machine's CPU went meanwhile:
    ``server_cpu`` (cores used by the server under test: ~1.0 means it was the bottleneck) and
    ``others_cpu`` (cores used by processes outside this benchmark: noise from neighbours)."""
    runner = run_wrk if load.use_wrk else run_httpx
    busy_before = wait_until_quiet(quiet_wait, log)
    if load.warmup > 0:
        runner(url, headers, load, load.warmup)
    probes_ok = Path("/proc/stat").exists()
    if probes_ok:
        before = (time.perf_counter(), _busy_seconds(), _process_seconds(server_pid), _own_seconds())
    result = runner(url, headers, load, load.duration)
    if busy_before is not None:
        result["others_cpu_before"] = busy_before
    if probes_ok:
        after = (time.perf_counter(), _busy_seconds(), _process_seconds(server_pid), _own_seconds())
        wall, busy, server, own = (b - a for a, b in zip(before, after, strict=True))
        result["server_cpu"] = round(server / wall, 3)
        result["others_cpu"] = round(max(0.0, busy - server - own) / wall, 3)
        if result["requests"]:
            result["cpu_us_per_request"] = round(server * 1e6 / result["requests"], 1)
    return result


def wait_until_quiet(limit: float, log: Callable[[str], None]) -> float | None:
    """Wait (at most ``limit`` seconds) until the machine is nearly idle: our servers are idle
    between measurements, so CPU in use now is a neighbour's. Returns the cores last seen busy."""
    if limit <= 0 or not Path("/proc/stat").exists():
        return None
    deadline = time.perf_counter() + limit
    while True:
        start, busy = time.perf_counter(), _busy_seconds()
        time.sleep(0.5)
        used = (_busy_seconds() - busy) / (time.perf_counter() - start)
        if used <= QUIET_CORES or time.perf_counter() >= deadline:
            if used > QUIET_CORES:
                log(f"  (machine still busy: {used:.2f} cores in use by others; measuring anyway)")
            return round(used, 3)


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class Target:
    key: str
    label: str
    server: Server
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[Any], bool] = lambda body: True
    connections: int | None = None  # None: the load's

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.port}{self.path}"


def measure_targets(name: str, targets: list[Target], load: Load, rounds: int, quiet_wait: float,
                    log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Check that every target answers, then measure each ``rounds`` times, the order rotating each
    round. Returns the per-target summary (medians; ``vs_bare_json`` against the ``bare_json``
    target, by req/s and by server CPU per request) and every round's result per target."""
    for target in targets:  # answers correctly before we load it
        status, body = request(target.server.port, "GET", target.path, headers=target.headers, timeout=30.0)
        if status != 200 or not target.check(json.loads(body)):
            raise RuntimeError(f"{target.url} answered {status}: {body[:300]!r}")
    runs: dict[str, list[dict[str, Any]]] = {target.key: [] for target in targets}
    for round_no in range(1, rounds + 1):
        # Rotate the order each round so drift (thermal, neighbours) hits every target alike.
        shift = (round_no - 1) % len(targets)
        for target in targets[shift:] + targets[:shift]:
            assert target.server.proc is not None
            target_load = replace(load, connections=target.connections or load.connections)
            result = measure(target.url, target.headers, target_load, target.server.proc.pid, quiet_wait, log)
            result["connections"] = target_load.connections
            runs[target.key].append(result)
            flag = "" if not (result["non_2xx"] or result["socket_errors"]) else (
                f"  !! non-2xx {result['non_2xx']}, socket errors {result['socket_errors']}")
            cpu = (f"  server CPU {result['server_cpu']:.2f}  others {result['others_cpu']:.2f}"
                   if "server_cpu" in result else "")
            log(f"  [{name}] round {round_no}/{rounds} {target.key:<14} -c{target_load.connections:<3} "
                f"{result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms"
                f"{cpu}{flag}")
    summary: dict[str, Any] = {}
    for target in targets:
        results = runs[target.key]
        summary[target.key] = {
            "label": target.label, "path": target.path, "connections": results[0]["connections"],
            "rounds": results,
            "rps_median": statistics.median(r["rps"] for r in results),
            "rps_min": min(r["rps"] for r in results), "rps_max": max(r["rps"] for r in results),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in results),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in results),
            "p99_ms_max": max(r["p99_ms"] for r in results),
            "server_cpu_median": _median_of(results, "server_cpu"),
            "cpu_us_per_request_median": _median_of(results, "cpu_us_per_request"),
            "others_cpu_max": max((r.get("others_cpu", 0.0) for r in results), default=0.0),
            "non_2xx": sum(r["non_2xx"] for r in results),
            "socket_errors": sum(r["socket_errors"] for r in results),
        }
    # The ratio also from server CPU per request: what the server would do with a core to itself,
    # hence much less sensitive to neighbours taking CPU time than req/s on a shared machine.
    bare = summary["bare_json"]
    for entry in summary.values():
        entry["vs_bare_json"] = entry["rps_median"] / bare["rps_median"]
        cpu = entry["cpu_us_per_request_median"]
        entry["vs_bare_json_cpu"] = (bare["cpu_us_per_request_median"] / cpu
                                     if cpu and bare["cpu_us_per_request_median"] else None)
    return summary, runs


def ratio_per_round(runs: dict[str, list[dict[str, Any]]], key: str) -> list[float]:
    """Target ``key``'s req/s ÷ the ``bare_json`` ceiling's, round by round."""
    return [run["rps"] / bare["rps"] for run, bare in zip(runs[key], runs["bare_json"], strict=True)]


def register(server: Server) -> str:
    status, body = request(server.port, "POST", "/api/auth/register", USER, timeout=30.0)
    if status != 201:
        raise RuntimeError(f"register answered {status}: {body[:500]!r}")
    return json.loads(body)["token"]


def loaded_plugins(server: Server, token: str) -> list[str]:
    status, body = request(server.port, "GET", "/api/plugins", headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        return []
    return [f"{p['name']} {p['version']}" for p in json.loads(body)["plugins"]]


def run_suite(name: str, database_url: str | None, load: Load, rounds: int, server_cpu: int | None,
              log: Callable[[str], None], quiet_wait: float = 0.0) -> dict[str, Any]:
    """One database backend: start both servers, measure every target ``rounds`` times, interleaved."""
    with tempfile.TemporaryDirectory(prefix=f"commonly-bench-{name}-") as tmp:
        workdir = Path(tmp)
        commonly = commonly_server(workdir, database_url, server_cpu)
        bare = bare_server(workdir, database_url, server_cpu)
        servers = [bare, commonly]
        try:
            for server in servers:
                server.start()
            bare.wait_ready("/json")
            commonly.wait_ready("/ready")
            token = register(commonly)
            auth = {"Authorization": f"Bearer {token}"}
            targets = [
                Target("bare_json", "bare Quart `GET /json` (ceiling)", bare, "/json",
                       check=lambda body: body == {"hello": "world"}),
                Target("bare_raw", "bare Quart + 1 raw SQL read `GET /raw`", bare, "/raw",
                       check=lambda body: body.get("name") == "bench"),
                Target("bare_select", "bare Quart + 1 Tortoise ORM read `GET /select`", bare, "/select",
                       check=lambda body: body.get("name") == "bench"),
                Target("health", "Commonly `GET /health`", commonly, "/health",
                       check=lambda body: body.get("status") == "ok"),
                Target("auth_user", "Commonly `GET /api/auth/user` (Bearer JWT)", commonly, "/api/auth/user",
                       auth, check=lambda body: body.get("username") == USER["username"]),
            ]
            plugins = loaded_plugins(commonly, token)
            summary, runs = measure_targets(name, targets, load, rounds, quiet_wait, log)
        finally:
            for server in servers:
                server.stop()

    return {
        "database": name,
        "plugins": plugins,
        "targets": summary,
        "auth_user_vs_bare": summary["auth_user"]["vs_bare_json"],
        "auth_user_vs_bare_per_round": ratio_per_round(runs, "auth_user"),
        "auth_user_vs_bare_select": summary["auth_user"]["rps_median"] / summary["bare_select"]["rps_median"],
        "auth_user_vs_bare_cpu": summary["auth_user"]["vs_bare_json_cpu"],
    }


def _median_of(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def boot_times(runs: int, database_url_for: Callable[[int], str | None], server_cpu: int | None,
               quiet_wait: float = 0.0, log: Callable[[str], None] = print) -> list[float]:
    """Seconds from spawning ``commonly serve`` (fresh data dir/database each time) to a 200 from /ready."""
    times = []
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="commonly-bench-boot-") as tmp:
            server = commonly_server(Path(tmp), database_url_for(run), server_cpu, name=f"boot{run}")
            wait_until_quiet(quiet_wait, log)
            try:
                server.start()
                times.append(server.wait_ready("/ready"))
            finally:
                server.stop()
    return times


# -- PostgreSQL (optional) -----------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def postgres_url(wanted: bool = True) -> str | None:
    """``COMMONLY_BENCH_DATABASE_URL`` (None when unset or not ``wanted``); it must be on loopback,
    so a benchmark never loads, and drops scratch databases on, a server elsewhere."""
    url = os.environ.get("COMMONLY_BENCH_DATABASE_URL") if wanted else None
    host = urlsplit(url).hostname if url else None
    if url and host not in LOOPBACK:
        raise SystemExit(f"COMMONLY_BENCH_DATABASE_URL must point at a loopback address, not {host!r}")
    return url


async def _pg(url: str, statement: str) -> None:
    import asyncpg

    dsn = url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(statement, timeout=30)
    finally:
        await conn.close(timeout=10)


@contextlib.contextmanager
def scratch_database(admin_url: str, suffix: str) -> Iterator[str]:
    """A new, empty database next to ``admin_url``'s; dropped afterwards."""
    name = f"commonly_bench_{os.getpid()}_{suffix}"
    asyncio.run(_pg(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(admin_url, name)
    finally:
        asyncio.run(_pg(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- report --------------------------------------------------------------------------------------


def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def code_info() -> dict[str, Any]:
    """Which code was measured: the commit, and whether the app's sources differ from it."""
    root = BENCH.parent

    def git(*args: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
            if done.returncode == 0:
                return done.stdout.rstrip("\n")  # porcelain lines start with a space: keep it
        return None

    changed = git("status", "--porcelain", "--", "commonly_kernel", "plugins", "pyproject.toml", ":(exclude)*.md")
    return {"commit": (git("rev-parse", "--short", "HEAD") or "").strip() or None,
            "app_sources_modified": None if changed is None else bool(changed),
            "modified_files": [] if not changed else [line[3:] for line in changed.splitlines()]}


def machine_info(wrk: str | None) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = None
    if wrk:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
        first = (done.stdout or done.stderr or "").splitlines()[:1]
        wrk_version = first[0].split(" [", 1)[0].strip() if first else "wrk"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _pkg(name) for name in (
            "commonly-kernel", "commonly-auth", "quart", "quart-schema", "uvicorn", "uvloop", "httptools",
            "tortoise-orm", "aiosqlite", "asyncpg", "pydantic", "pyjwt", "python-socketio")},
        "load_generator": wrk_version or "httpx (wrk not installed)",
    }


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f} %"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pinning(no_pin: bool) -> tuple[bool, int | None, int | None]:
    """``(pinned, server CPU, load generator CPU)``: on two cores or more, servers on CPU 1 and the
    load on CPU 0, unless ``no_pin``."""
    pin = not no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    return (pin, 1, 0) if pin else (False, None, None)


def new_results(benchmark: str, started: dt.datetime, machine: dict[str, Any], settings: dict[str, Any],
                targets: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """The record every benchmark writes: which code, machine and settings, its targets, its suites."""
    code = code_info() if note is None else {**code_info(), "note": note}
    return {"benchmark": benchmark, "date": started.isoformat(timespec="seconds"), "code": code,
            "machine": machine, "settings": settings, "targets": targets, "suites": []}


def each_database(title: str, pg_url: str | None, scratch_name: str,
                  run: Callable[[str, str | None], dict[str, Any]], *, sqlite: bool = True) -> list[dict[str, Any]]:
    """``run(name, database_url)`` on SQLite (a fresh file; ``database_url`` None), then, when
    ``pg_url`` is set, on a scratch PostgreSQL database made next to it and dropped afterwards."""
    suites = []
    if sqlite:
        log(f"{title} (sqlite) ...")
        suites.append(run("sqlite", None))
    if pg_url:
        log(f"{title} (postgresql) ...")
        with scratch_database(pg_url, scratch_name) as url:
            suites.append(run("postgresql", url))
    return suites


def run_sql(database_url: str, statements: list[tuple[str, list[Any]]], many: bool = False) -> None:
    """Run SQL in the server's database from here (the server keeps running; it is idle).
    With ``many``, each statement's args are a list of rows (executemany)."""
    if database_url.startswith("sqlite://"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite://"), timeout=30)
        try:
            for sql, args in statements:
                (conn.executemany if many else conn.execute)(sql, args)
            conn.commit()
        finally:
            conn.close()
        return

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1), timeout=10)
        try:
            async with conn.transaction():
                for sql, args in statements:
                    if many:
                        await conn.executemany(sql, args, timeout=600)
                    else:
                        await conn.execute(sql, *args, timeout=600)
            await conn.execute("ANALYZE", timeout=600)
        finally:
            await conn.close(timeout=10)

    asyncio.run(run())


def add_wrk_arguments(parser: argparse.ArgumentParser, results_name: str) -> None:
    """The options of the wrk-driven plugin benchmarks (pods_http, pods_context, social)."""
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per route (default 3)")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="wait up to this many seconds for the machine to go idle before each measurement")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers to CPU 1 and wrk to CPU 0")
    parser.add_argument("--no-write", action="store_true",
                        help=f"do not write bench/results/{results_name}-<date>.json")


def code_line(results: dict[str, Any]) -> str:
    """Which commit a run measured, and whether the app's sources differed from it."""
    code = results["code"]
    dirty = " plus uncommitted changes to the app" if code["app_sources_modified"] else ""
    return f"commit {code['commit'] or 'unknown'}{dirty}"


def route_table(suites: list[dict[str, Any]]) -> list[str]:
    """The per-route table every wrk-driven benchmark prints (this file's, pods_http's, social's),
    followed by an empty line."""
    lines = [
        "| database | route | req/s (median) | req/s (min-max) | p50 ms | p99 ms | vs bare `/json` "
        "| server CPU | CPU µs/req | vs bare, by CPU | others' CPU (max) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for suite in suites:
        for entry in suite["targets"].values():
            errors = ""
            if entry["non_2xx"] or entry["socket_errors"]:
                errors = f" (!! {entry['non_2xx']} non-2xx, {entry['socket_errors']} socket errors)"
            lines.append(
                f"| {suite['database']} | {entry['label']}{errors} | {entry['rps_median']:.0f} | "
                f"{entry['rps_min']:.0f}-{entry['rps_max']:.0f} | {entry['p50_ms_median']:.2f} | "
                f"{entry['p99_ms_median']:.2f} | {entry['vs_bare_json'] * 100:.0f} % | "
                f"{_cores(entry['server_cpu_median'])} | {_num(entry['cpu_us_per_request_median'])} | "
                f"{_pct(entry['vs_bare_json_cpu'])} | {_cores(entry['others_cpu_max'])} |"
            )
    return [*lines, ""]


def report(kind: str, started: dt.datetime, results: dict[str, Any], table: str, *, write: bool) -> None:
    """Print a run's table and, when ``write``, keep the whole run in ``results/<kind>-<date>.json``."""
    results["markdown"] = table
    print(table)
    if write:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{kind}-{started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {path.relative_to(BENCH.parent)}", file=sys.stderr, flush=True)


def markdown(results: dict[str, Any]) -> str:
    # With PostgreSQL, "others" includes the database: only SQLite rows can show a noisy machine.
    noisy = any(entry["others_cpu_max"] > NOISY_CORES for suite in results["suites"] if suite["database"] == "sqlite"
                for entry in suite["targets"].values())
    lines = route_table(results["suites"])
    lines.append("Server CPU and others' CPU are in cores: server CPU ≈ 1.00 means the one-worker server "
                 "was the bottleneck; others' CPU is what processes outside this benchmark used meanwhile "
                 "(in the postgresql rows that includes the PostgreSQL server). CPU µs/req is the server's "
                 "CPU time per request; \"vs bare, by CPU\" compares those, which holds up better than "
                 "req/s when neighbours take CPU time.")
    lines.append("")
    if noisy:
        lines.append(f"- **Noisy run**: other processes used more than {NOISY_CORES} of a core during "
                     "some SQLite measurements; compare with a quieter run.")
    for suite in results["suites"]:
        ratio = suite["auth_user_vs_bare"]
        rounds = ", ".join(f"{r * 100:.0f} %" for r in suite["auth_user_vs_bare_per_round"])
        met = "met" if ratio >= RATIO_TARGET else "NOT met"
        if results["machine"]["load_generator"].startswith("httpx"):
            met = "not judged (httpx is the bottleneck)"
        lines.append(f"- {suite['database']}: `GET /api/auth/user` ÷ bare `/json` = **{ratio * 100:.0f} %** "
                     f"(per round: {rounds}); target ≥ {RATIO_TARGET * 100:.0f} %: **{met}**. "
                     f"By server CPU per request: {_pct(suite['auth_user_vs_bare_cpu'])}. "
                     f"÷ bare `/select` = {suite['auth_user_vs_bare_select'] * 100:.0f} %.")
    for name, boot in results["boot"].items():
        met = "met" if boot["max_s"] <= BOOT_TARGET else "NOT met"
        runs = ", ".join(f"{t:.2f}" for t in boot["runs_s"])
        lines.append(f"- boot ({name}), spawn → first 200 from `/ready`: {runs} s (median "
                     f"{boot['median_s']:.2f} s); target ≤ {BOOT_TARGET:.0f} s: **{met}**.")
    load = results["settings"]
    lines.append(f"- code: {code_line(results)}.")
    if results["machine"]["load_generator"].startswith("httpx"):
        lines.append(f"- **httpx load generator** ({HTTPX_MAX_CONNECTIONS} connections at most): it "
                     "saturates its own core long before the servers do, so these figures (and the ratio) "
                     "measure the client. Install wrk (`apt-get install -y wrk`) for real figures.")
    lines.append(f"- load: {results['machine']['load_generator']}, -t{load['threads']} "
                 f"-c{load['connections']} -d{load['duration_s']:.0f}s after a {load['warmup_s']:.0f} s "
                 f"warm-up, {load['rounds']} rounds; pinned: {load['pinned']}.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Commonly HTTP benchmark (see the module docstring).")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per route (default 3)")
    parser.add_argument("--boot-runs", type=int, default=3, help="boot-time runs (default 3)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin servers to CPU 1 and the load generator to CPU 0")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="before each measurement wait up to this many seconds for other processes "
                             "to go idle (default 10; 0 = never wait)")
    parser.add_argument("--httpx", action="store_true",
                        help="use the httpx load generator even when wrk is installed")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/http-<date>.json")
    args = parser.parse_args()

    for value, name in ((args.duration, "--duration"), (args.rounds, "--rounds")):
        if value <= 0:
            parser.error(f"{name} must be positive")
    args.duration = min(args.duration, 120.0)
    args.warmup = min(max(args.warmup, 0.0), 60.0)
    args.quiet_wait = min(max(args.quiet_wait, 0.0), 120.0)

    wrk = None if args.httpx else shutil.which("wrk")
    if wrk is None and not args.httpx:
        print("wrk is not installed; falling back to an async httpx load generator, which is much\n"
              "slower than wrk (its figures are a floor, not the servers' limit).\n"
              "Install wrk for real figures:  apt-get install -y wrk", file=sys.stderr)
    pin, server_cpu, client_cpu = pinning(args.no_pin)
    if pin and not wrk:
        os.sched_setaffinity(0, {0})  # the httpx generator runs in this process
    load = Load(args.threads, args.connections, args.duration, args.warmup, client_cpu, wrk is not None)
    pg_url = postgres_url()
    started = dt.datetime.now(dt.UTC)
    results = new_results(
        "bench/kernel_http.py", started, machine_info(wrk),
        {"threads": args.threads, "connections": args.connections, "duration_s": args.duration,
         "warmup_s": args.warmup, "rounds": args.rounds, "pinned": pin, "quiet_wait_s": args.quiet_wait,
         "servers": "uvicorn, 1 worker, loop/http auto (uvloop + httptools), no access log",
         "commonly_env": {"COMMONLY_RATE_LIMITS": "0", "COMMONLY_LOG_LEVEL": "WARNING",
                          "COMMONLY_PLUGINS": os.environ.get("COMMONLY_PLUGINS", "(all installed)")}},
        {"auth_user_vs_bare_min": RATIO_TARGET, "boot_max_s": BOOT_TARGET})
    results["boot"] = {}

    log("boot time (sqlite) ...")
    times = boot_times(args.boot_runs, lambda run: None, server_cpu, args.quiet_wait, log)
    results["boot"]["sqlite"] = {"runs_s": times, "median_s": statistics.median(times), "max_s": max(times)}
    log("  " + ", ".join(f"{t:.2f} s" for t in times))

    log("throughput (sqlite) ...")
    results["suites"].append(run_suite("sqlite", None, load, args.rounds, server_cpu, log, args.quiet_wait))

    if pg_url:
        log("boot time (postgresql) ...")
        times = []
        for run in range(args.boot_runs):
            with scratch_database(pg_url, f"boot{run}") as url:
                times += boot_times(1, lambda _, url=url: url, server_cpu, args.quiet_wait, log)
        results["boot"]["postgresql"] = {"runs_s": times, "median_s": statistics.median(times),
                                         "max_s": max(times)}
        log("  " + ", ".join(f"{t:.2f} s" for t in times))
        log("throughput (postgresql) ...")
        with scratch_database(pg_url, "load") as url:
            results["suites"].append(run_suite("postgresql", url, load, args.rounds, server_cpu, log,
                                               args.quiet_wait))

    report("http", started, results, markdown(results), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
