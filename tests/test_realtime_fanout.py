"""socket.io emits cross processes through Redis (REDIS_URL): two real server processes, a
client on each, one Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import socketio

from commonly_kernel.testing import serve, wait_for

REDIS_URL = os.environ.get("COMMONLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVER = Path(__file__).with_name("fanout_server.py")


def _redis_answers() -> bool:
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _start(port: int, database_url: str, prefix: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, str(SERVER), str(port), database_url, REDIS_URL, prefix])
    deadline = asyncio.get_running_loop().time() + 60  # a loaded machine starts a process slowly
    async with httpx.AsyncClient() as http:
        while asyncio.get_running_loop().time() < deadline and process.poll() is None:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError(f"server process did not become ready (exit code {process.poll()})")


async def _subscribers(channel: str) -> int:
    from redis import asyncio as aioredis

    redis = aioredis.from_url(REDIS_URL)
    try:
        return dict(await redis.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        await redis.aclose()


needs_redis = pytest.mark.skipif(not os.environ.get("COMMONLY_TEST_REDIS_URL") and not _redis_answers(),
                                 reason="no Redis (set COMMONLY_TEST_REDIS_URL; CI does)")


@needs_redis
async def test_realtime_emit_reaches_client_on_other_process(database_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex}"  # another run on the same Redis server hears none of this
    ports = [_free_port(), _free_port()]
    processes = [await _start(ports[0], database_url, prefix), await _start(ports[1], database_url, prefix)]
    clients = [socketio.AsyncClient(reconnection=False) for _ in ports]
    received: list[dict[str, object]] = []
    clients[1].on("shouted", received.append)
    try:
        # Both processes listen from startup, before any client: the first emit after a connect
        # cannot overtake the subscription.
        assert await _subscribers(f"{prefix}:socketio") == 2
        for client, port, name in zip(clients, ports, ("person-a", "person-b"), strict=True):
            await client.connect(f"http://127.0.0.1:{port}", transports=["websocket"], auth={"token": name},
                                 wait_timeout=30)
        ack = await clients[0].call("shout", {"text": "hello"}, timeout=5)
        assert ack == {"ok": True}
        await wait_for(lambda: len(received) == 1)
        assert received[0] == {"from": "person-a", "data": {"text": "hello"}}
    finally:
        for client in clients:
            if client.connected:
                await client.disconnect()
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@needs_redis
async def test_fanout_listens_from_startup_to_shutdown(make_app) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    app = make_app(REDIS_URL=REDIS_URL, COMMONLY_REDIS_PREFIX=prefix)
    async with serve(app):
        assert await _subscribers(f"{prefix}:socketio") == 1  # no client has connected yet
    for _ in range(600):  # Redis hears of the closed connection a moment later
        if await _subscribers(f"{prefix}:socketio") == 0:
            break
        await asyncio.sleep(0.05)
    assert await _subscribers(f"{prefix}:socketio") == 0
