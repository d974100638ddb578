"""Pod chat fan-out: 200 socket.io clients in one pod, messages posted over REST, against a bare
python-socketio server broadcasting the same payload to a room of 200 clients, in the same run.

Run from the repository root::

    .venv/bin/python bench/pods_realtime.py             # SQLite; ~2 min
    COMMONLY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/pods_realtime.py         # the Commonly server on PostgreSQL instead

Servers (both uvicorn, 1 worker, the same arguments as ``commonly serve``, pinned to CPU 1):

- **Commonly**: ``commonly serve`` with ``auth`` and ``pods``; 200 users, each a member of one pod,
  each with one socket that joined the pod's room (``joinPod``). Messages are ``POST
  /api/pods/:id/messages`` by one member: stored, then emitted as ``message`` and ``newMessage``.
- **bare** (this file, ``--serve-bare``): Quart + python-socketio mounted like Commonly's app, no
  auth, no database; ``joinPod`` enters the room, ``POST /broadcast`` emits the same payload (a
  stored message's fields) as ``message`` and ``newMessage`` to the room and answers it.

The clients (this process, pinned to CPU 0) are 200 raw engine.io v4 websocket clients (aiohttp):
they speak just enough of the protocol (handshake with ``auth: {token}``, ``joinPod`` with an ack,
pong), count every ``message``/``newMessage`` frame and, for ``message``, read the send time from
the content (``bench <seq> <time_ns>``) to measure end-to-end latency at receipt.

Phases, for each server, in rounds whose order alternates:

1. **steady**: messages posted at ``--rate`` (default 20/s) for ``--duration`` s: deliveries per
   second (a delivery = one event frame at one client; 2 per message and client), end-to-end
   p50/p99/max of ``message``, lost deliveries, server CPU per message;
2. **max**: ``--posters`` (default 4) clients post back to back for ``--duration`` s: the most
   deliveries per second each server sustains (the bare one is the ceiling).

Targets: at max, Commonly ≥ 80 % of the bare deliveries per second; at 20 msg/s, p99 ≤ 50 ms.
Writes ``bench/results/pods-realtime-<date>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kernel_http as bh
import pods_http as ph

log = bh.log

CLIENTS = 200
RATIO_TARGET = 0.80
P99_TARGET_MS = 50.0
ROOM = "pod:bench"
CONTENT = re.compile(rb'"content": ?"bench (\d+) (\d+)')


# -- the bare server -----------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    import socketio
    import uvicorn
    from quart import Quart, request

    sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
    quart = Quart("bare-socketio")
    counter = {"id": 0}

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        return None

    @sio.on("joinPod")
    async def join(sid: str, data: Any) -> dict[str, Any]:
        await sio.enter_room(sid, ROOM)
        return {"ok": True, "podId": data}

    @quart.get("/json")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @quart.post("/broadcast")
    async def broadcast() -> tuple[dict[str, Any], int]:
        body = await request.get_json()
        counter["id"] += 1
        message = _payload(counter["id"], body["content"])
        await sio.emit("message", message, room=ROOM)
        await sio.emit("newMessage", message, room=ROOM)
        return message, 201

    app = socketio.ASGIApp(sio, other_asgi_app=quart)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, access_log=False, log_level="warning", lifespan="on")


def _payload(message_id: int, content: str) -> dict[str, Any]:
    """A stored message as Commonly's ``message`` event carries it (same fields, same sizes)."""
    user_id = "5f0c1d9e-2f7b-4a51-9d0e-3c6a1b2e4f80"
    author = {"id": user_id, "_id": user_id, "username": "bench0", "profilePicture": None, "isBot": False}
    return {"id": message_id, "_id": message_id, "podId": "0b8f6f7e-9a51-4c5e-8f7a-2d4b6c8e0a13", "userId": user_id,
            "content": content, "messageType": "text", "attachments": [], "replyToMessageId": None,
            "createdAt": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"), "author": author,
            "username": "bench0", "isBot": False}


# -- the clients -----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What every client received; ``recording`` gates what counts."""

    recording: bool = False
    frames: int = 0
    message: int = 0
    new_message: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    seen: dict[int, int] = field(default_factory=dict)  # message seq → clients that got ``message``

    def reset(self) -> None:
        self.frames = self.message = self.new_message = 0
        self.latencies_ms = []
        self.seen = {}


class Client:
    """One engine.io v4 / socket.io v5 websocket client, as small as a benchmark needs."""

    def __init__(self, session: Any, url: str, token: str | None, tally: Tally) -> None:
        self.session, self.url, self.token, self.tally = session, url, token, tally
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0

    async def connect(self, pod_id: str) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await self.session.ws_connect(ws_url, autoping=True, max_msg_size=0)
        opened = await self.ws.receive_str(timeout=10)
        if not opened.startswith("0"):
            raise RuntimeError(f"unexpected engine.io open packet {opened[:100]!r}")
        await self.ws.send_str("40" + json.dumps({"token": self.token} if self.token else {}))
        connected = await self.ws.receive_str(timeout=10)
        if not connected.startswith("40"):
            raise RuntimeError(f"socket.io connect refused: {connected[:200]!r}")
        self.task = asyncio.create_task(self._read())
        ack = await self.call("joinPod", pod_id)
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"joinPod refused: {ack!r}")

    async def call(self, event: str, data: Any) -> Any:
        self._next_ack += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[self._next_ack] = future
        await self.ws.send_str(f"42{self._next_ack}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, 10)

    async def _read(self) -> None:
        import aiohttp

        tally = self.tally
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            data = frame.data
            if data == "2":
                await self.ws.send_str("3")
                continue
            if data.startswith('42["message"'):
                if tally.recording:
                    received = time.time_ns()
                    tally.frames += 1
                    tally.message += 1
                    found = CONTENT.search(data.encode())
                    if found:
                        seq, sent = int(found.group(1)), int(found.group(2))
                        tally.latencies_ms.append((received - sent) / 1e6)
                        tally.seen[seq] = tally.seen.get(seq, 0) + 1
            elif data.startswith('42["newMessage"'):
                if tally.recording:
                    tally.frames += 1
                    tally.new_message += 1
            elif data.startswith("43"):
                head = data[2:data.index("[")]
                future = self._acks.pop(int(head), None)
                if future is not None and not future.done():
                    future.set_result(json.loads(data[len(head) + 2:])[0])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


# -- phases ----------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    post_path: str
    pod_id: str
    tokens: list[str | None]
    poster_token: str | None
    pid: int


async def post(session: Any, target: Target, seq: int) -> None:
    headers = {"Authorization": f"Bearer {target.poster_token}"} if target.poster_token else {}
    content = f"bench {seq} {time.time_ns()}"
    async with session.post(target.url + target.post_path, json={"content": content}, headers=headers) as response:
        if response.status != 201:
            raise RuntimeError(f"{target.post_path} answered {response.status}: {(await response.text())[:200]}")
        await response.read()


def _process_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def phase(session: Any, target: Target, tally: Tally, *, rate: float | None, posters: int,
                duration: float, settle: float = 2.0) -> dict[str, Any]:
    """Post for ``duration`` s (at ``rate``/s, or ``posters`` back to back), then wait up to
    ``settle`` s for the last deliveries. Deliveries per second count the posting window only."""
    seq = 0
    tally.reset()
    tally.recording = True
    started = time.perf_counter()
    cpu_before, own_before = _process_seconds(target.pid), _own_seconds()
    deadline = started + duration
    if rate is not None:
        tasks = []
        while True:
            due = started + seq / rate
            if due >= deadline:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(post(session, target, seq)))
            seq += 1
        await asyncio.gather(*tasks)
    else:
        counter = iter(range(10**9))

        async def poster() -> None:
            nonlocal seq
            while time.perf_counter() < deadline:
                number = next(counter)
                seq = max(seq, number + 1)
                await post(session, target, number)

        await asyncio.gather(*(poster() for _ in range(posters)))
    window = time.perf_counter() - started
    frames_in_window = tally.frames
    cpu_window, own_window = _process_seconds(target.pid) - cpu_before, _own_seconds() - own_before
    expected = seq * len(target.tokens)
    settle_until = time.perf_counter() + settle
    while tally.message < expected and time.perf_counter() < settle_until:
        await asyncio.sleep(0.02)
    tally.recording = False
    latencies = sorted(tally.latencies_ms)

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else None

    return {
        "messages": seq, "window_s": round(window, 3), "messages_per_s": round(seq / window, 2),
        "deliveries_per_s": round(frames_in_window / window, 1),
        "deliveries_expected": 2 * expected, "deliveries_received": tally.message + tally.new_message,
        "lost_message_events": expected - tally.message, "lost_newMessage_events": expected - tally.new_message,
        "latency_p50_ms": pct(0.50), "latency_p99_ms": pct(0.99),
        "latency_max_ms": round(latencies[-1], 2) if latencies else None,
        "server_cpu": round(cpu_window / window, 3),
        "server_cpu_us_per_message": round(cpu_window * 1e6 / seq, 1) if seq else None,
        "client_cpu": round(own_window / window, 3),
    }


async def run_target(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [Client(session, target.url, token, tally) for token in target.tokens]
        try:
            for start in range(0, len(clients), 20):
                await asyncio.gather(*(client.connect(target.pod_id) for client in clients[start:start + 20]))
            await asyncio.sleep(1.0)  # the last presence announcements drain
            await phase(session, target, tally, rate=args.rate, posters=0, duration=args.warmup, settle=1.0)
            steady = await phase(session, target, tally, rate=args.rate, posters=0, duration=args.duration)
            peak = await phase(session, target, tally, rate=None, posters=args.posters, duration=args.duration,
                               settle=5.0)
        finally:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    return {"steady": steady, "max": peak}


# -- orchestration ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="pod chat fan-out benchmark (see the module docstring)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second in the steady phase")
    parser.add_argument("--posters", type=int, default=4, help="concurrent posters in the max phase (default 4)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of steady posting before (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the server order alternates (default 2)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"sockets in the room (default {CLIENTS})")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers to CPU 1 and clients to CPU 0")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write bench/results/pods-realtime-<date>.json")
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.port)
        return 0

    pin, server_cpu, client_cpu = bh.pinning(args.no_pin)
    if pin:
        os.sched_setaffinity(0, {client_cpu})
    pg_url = bh.postgres_url()
    started = dt.datetime.now(dt.UTC)
    results = bh.new_results(
        "bench/pods_realtime.py", started,
        {**bh.machine_info(None), "load_generator": "bench/pods_realtime.py clients (aiohttp websockets)"},
        {"clients": args.clients, "rate_per_s": args.rate, "posters": args.posters, "duration_s": args.duration,
         "warmup_s": args.warmup, "rounds": args.rounds, "pinned": pin,
         "database": "postgresql" if pg_url else "sqlite", "plugins": ph.PLUGINS,
         "clients_impl": "raw engine.io v4 websocket clients (aiohttp), one process, uvloop"},
        {"max_deliveries_vs_bare_min": RATIO_TARGET, "steady_p99_ms_max": P99_TARGET_MS})
    del results["suites"]  # one database a run; its rounds pair the two servers
    results["rounds"] = []
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(bh.scratch_database(pg_url, "realtime")) if pg_url else None
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="commonly-bench-realtime-")))
        commonly = ph.commonly(workdir, database_url, server_cpu)
        bare = bh.Server("bare-socketio", [sys.executable, str(Path(__file__).resolve()), "--serve-bare"],
                         bh.clean_env(), workdir / "bare.log", server_cpu)
        try:
            commonly.start()
            bare.start()
            commonly.wait_ready("/ready")
            bare.wait_ready("/json")
            log(f"registering {args.clients} members ...")
            pod_id, members = ph.pod_with_members(commonly, args.clients)
            targets = {
                "commonly": Target("commonly", f"http://{bh.HOST}:{commonly.port}", f"/api/pods/{pod_id}/messages",
                                   pod_id, [member.token for member in members], members[0].token,
                                   commonly.proc.pid),
                "bare": Target("bare", f"http://{bh.HOST}:{bare.port}", "/broadcast", "bench",
                               [None] * args.clients, None, bare.proc.pid),
            }
            for round_no in range(1, args.rounds + 1):
                order = ["commonly", "bare"] if round_no % 2 else ["bare", "commonly"]
                entry: dict[str, Any] = {}
                for name in order:
                    bh.wait_until_quiet(10.0, log)
                    entry[name] = _run(targets[name], args)
                    for phase_name, figures in entry[name].items():
                        log(f"  round {round_no} {name:<8} {phase_name:<6} {figures['messages_per_s']:7.1f} msg/s "
                            f"{figures['deliveries_per_s']:9.0f} deliveries/s  p50 {figures['latency_p50_ms']} ms  "
                            f"p99 {figures['latency_p99_ms']} ms  lost {figures['lost_message_events']}  "
                            f"server CPU {figures['server_cpu']:.2f}  client CPU {figures['client_cpu']:.2f}")
                results["rounds"].append(entry)
        finally:
            commonly.stop()
            bare.stop()
    results["summary"] = summarize(results["rounds"])
    bh.report("pods-realtime", started, results, markdown(results), write=not args.no_write)
    return 0


def _run(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(run_target(target, args))
    except ImportError:
        return asyncio.run(run_target(target, args))


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in ("commonly", "bare"):
        for phase_name in ("steady", "max"):
            runs = [entry[name][phase_name] for entry in rounds]
            summary[f"{name}_{phase_name}"] = {
                key: statistics.median(run[key] for run in runs)
                for key in ("messages_per_s", "deliveries_per_s", "latency_p50_ms", "latency_p99_ms",
                            "latency_max_ms", "server_cpu", "server_cpu_us_per_message", "client_cpu")
                if all(run[key] is not None for run in runs)
            } | {"lost": sum(run["lost_message_events"] + run["lost_newMessage_events"] for run in runs)}
    summary["max_ratio"] = summary["commonly_max"]["deliveries_per_s"] / summary["bare_max"]["deliveries_per_s"]
    summary["max_ratio_per_round"] = [entry["commonly"]["max"]["deliveries_per_s"]
                                      / entry["bare"]["max"]["deliveries_per_s"] for entry in rounds]
    summary["steady_ratio"] = (summary["commonly_steady"]["deliveries_per_s"]
                               / summary["bare_steady"]["deliveries_per_s"])
    summary["steady_cpu_ratio"] = (summary["bare_steady"]["server_cpu_us_per_message"]
                                   / summary["commonly_steady"]["server_cpu_us_per_message"])
    return summary


def markdown(results: dict[str, Any]) -> str:
    summary = results["summary"]
    database = results["settings"]["database"]
    lines = [
        "| server | phase | msg/s | deliveries/s | p50 ms | p99 ms | max ms | lost | server CPU "
        "| server CPU µs/msg | client CPU |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    labels = {"commonly": f"Commonly `POST /api/pods/:id/messages` ({database})",
              "bare": "bare python-socketio `POST /broadcast` (ceiling)"}
    for name in ("bare", "commonly"):
        for phase_name in ("steady", "max"):
            row = summary[f"{name}_{phase_name}"]
            lines.append(
                f"| {labels[name]} | {phase_name} | {row['messages_per_s']:.1f} | {row['deliveries_per_s']:.0f} | "
                f"{row.get('latency_p50_ms', 0):.1f} | {row.get('latency_p99_ms', 0):.1f} | "
                f"{row.get('latency_max_ms', 0):.1f} | {row['lost']} | {row['server_cpu']:.2f} | "
                f"{row.get('server_cpu_us_per_message', 0):.0f} | {row['client_cpu']:.2f} |")
    settings = results["settings"]
    p99 = summary["commonly_steady"].get("latency_p99_ms", float("inf"))
    per_round = ", ".join(f"{r * 100:.0f} %" for r in summary["max_ratio_per_round"])
    lines += [
        "",
        f"- {settings['clients']} sockets in one room; a delivery is one `message` or `newMessage` event at one "
        "socket (2 per message and socket); medians of the rounds; lost counts every round.",
        f"- max: Commonly ÷ bare deliveries per second = **{summary['max_ratio'] * 100:.0f} %** (per round: "
        f"{per_round}); target ≥ {RATIO_TARGET * 100:.0f} %: "
        f"**{'met' if summary['max_ratio'] >= RATIO_TARGET else 'NOT met'}**.",
        f"- steady at {settings['rate_per_s']:.0f} msg/s: Commonly p99 **{p99:.1f} ms** (bare "
        f"{summary['bare_steady'].get('latency_p99_ms', 0):.1f} ms); target ≤ {P99_TARGET_MS:.0f} ms: "
        f"**{'met' if p99 <= P99_TARGET_MS else 'NOT met'}**; deliveries per second "
        f"{summary['steady_ratio'] * 100:.0f} % of bare; server CPU per message: bare ÷ Commonly = "
        f"{summary['steady_cpu_ratio'] * 100:.0f} %.",
        f"- code: {bh.code_line(results)}; "
        f"{settings['duration_s']:.0f} s per phase, {settings['rounds']} rounds, {settings['posters']} posters at max; "
        f"pinned: {settings['pinned']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
