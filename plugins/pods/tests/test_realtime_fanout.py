"""Pod chat across processes: two real server processes (``pods_fanout_server.py``) share one
database and one Redis (``REDIS_URL``); what happens on one reaches the sockets of the other.

The database is the suite's: a SQLite file (both processes open it) or, with
``COMMONLY_TEST_DATABASE_URL``, a fresh PostgreSQL database. Redis is
``COMMONLY_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); without one answering the
test is skipped, unless ``COMMONLY_TEST_REDIS_URL`` is set (then it must answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from commonly_kernel.testing import wait_for

REDIS_URL = os.environ.get("COMMONLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVER = Path(__file__).with_name("pods_fanout_server.py")
EVENTS = ("message", "newMessage", "podPresence", "typing", "error")


def _redis_answers() -> bool:
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not os.environ.get("COMMONLY_TEST_REDIS_URL") and not _redis_answers(),
    reason=f"no Redis answers at {REDIS_URL} (set COMMONLY_TEST_REDIS_URL to run this test; CI does)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _start(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), str(port), database_url, REDIS_URL, str(data_dir)])
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(1200):  # 60 s: a loaded machine starts a process slowly
            if process.poll() is not None:
                raise AssertionError(f"server process exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/ready")).status_code == 200:
                    return process, url
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("server process did not become ready")


@pytest.fixture
async def servers(database_url: str, tmp_path: Path) -> AsyncIterator[list[str]]:
    """Two server processes (started one after the other: the first creates the tables)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for name in ("a", "b"):
            process, url = await _start(database_url, tmp_path / name)
            processes.append(process)
            urls.append(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class User:
    def __init__(self, body: dict[str, Any]) -> None:
        self.id: str = body["user"]["id"]
        self.username: str = body["user"]["username"]
        self.token: str = body["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def sockets() -> AsyncIterator[list[socketio.AsyncClient]]:
    opened: list[socketio.AsyncClient] = []
    yield opened
    for sio in opened:
        if sio.connected:
            await sio.disconnect()


async def _register(http: httpx.AsyncClient, url: str, name: str) -> User:
    response = await http.post(f"{url}/api/auth/register",
                               json={"username": name, "email": f"{name}@example.com", "password": "correct horse 1"})
    assert response.status_code == 201, response.text
    return User(response.json())


async def _connect(opened: list[socketio.AsyncClient], url: str, user: User) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    sio.received = []  # type: ignore[attr-defined]
    for event in EVENTS:
        sio.on(event, _collector(sio, event))
    opened.append(sio)
    await sio.connect(url, transports=["websocket"], auth={"token": user.token}, wait_timeout=5)
    return sio


def _collector(sio: socketio.AsyncClient, event: str) -> Any:
    async def collect(data: Any = None) -> None:
        sio.received.append((event, data))  # type: ignore[attr-defined]

    return collect


def of(sio: socketio.AsyncClient, event: str) -> list[Any]:
    return [data for name, data in sio.received if name == event]  # type: ignore[attr-defined]


def with_content(sio: socketio.AsyncClient, event: str, content: str) -> list[dict[str, Any]]:
    return [data for data in of(sio, event) if data.get("content") == content]


async def test_pod_chat_crosses_processes(servers: list[str], sockets: list[socketio.AsyncClient]) -> None:
    a, b = servers
    async with httpx.AsyncClient(timeout=30) as http:
        # Accounts made on either process are valid on both (one database, one JWT secret).
        alice, bob = await _register(http, b, "alice"), await _register(http, a, "bob")
        response = await http.post(f"{b}/api/pods", json={"name": "Across"}, headers=alice.headers)
        assert response.status_code == 201, response.text
        pod_id = response.json()["id"]
        assert (await http.post(f"{a}/api/pods/{pod_id}/join", headers=bob.headers)).status_code == 200

        bob_a, alice_a, alice_b = (await _connect(sockets, a, bob), await _connect(sockets, a, alice),
                                   await _connect(sockets, b, alice))
        for sio in (alice_a, alice_b, bob_a):
            assert await sio.call("joinPod", pod_id, timeout=5) == {"ok": True, "podId": pod_id}

        # A REST post on B reaches the sockets on A (and on B), once under each name.
        response = await http.post(f"{b}/api/pods/{pod_id}/messages", json={"content": "from B"},
                                   headers=alice.headers)
        assert response.status_code == 201, response.text
        posted = response.json()
        # A socket message on A reaches B; by the time it is in, every earlier event is too.
        ack = await bob_a.call("message", {"podId": pod_id, "content": "from A"}, timeout=5)
        assert ack["content"] == "from A" and ack["userId"] == bob.id
        for sio in (bob_a, alice_a, alice_b):
            await wait_for(lambda sio=sio: with_content(sio, "newMessage", "from A"))
            for name in ("message", "newMessage"):
                assert with_content(sio, name, "from B") == [posted], name
                assert with_content(sio, name, "from A") == [ack], name

        # Typing on A reaches the room on B, not the typist.
        await bob_a.emit("typing", {"podId": pod_id, "isTyping": True})
        await wait_for(lambda: of(alice_b, "typing"))
        assert of(alice_b, "typing") == [{"podId": pod_id, "userId": bob.id, "username": bob.username,
                                          "isTyping": True}]

        # Stored once, whichever process wrote it.
        response = await http.get(f"{a}/api/pods/{pod_id}/messages", headers=bob.headers)
        assert [message["content"] for message in response.json()] == ["from B", "from A"]

        # bob is removed on B: process A takes his socket out of the room and says so.
        announced = len(of(alice_a, "podPresence"))
        response = await http.delete(f"{b}/api/pods/{pod_id}/members/{bob.id}", headers=alice.headers)
        assert response.status_code == 200, response.text
        await wait_for(lambda: [alice.id] in [data["userIds"] for data in of(alice_a, "podPresence")[announced:]])

        response = await http.post(f"{b}/api/pods/{pod_id}/messages", json={"content": "after removal"},
                                   headers=alice.headers)
        assert response.status_code == 201, response.text
        # alice's socket on A got it: process A has emitted it to its share of the room. A round trip
        # on bob's socket then comes after anything that emit could have queued for him.
        await wait_for(lambda: with_content(alice_a, "newMessage", "after removal"))
        refused = await bob_a.call("joinPod", pod_id, timeout=5)
        assert refused["error"] == "not_a_member", refused
        assert [data["content"] for data in of(bob_a, "message")] == ["from B", "from A"]
        assert [data["content"] for data in of(bob_a, "newMessage")] == ["from B", "from A"]
        await wait_for(lambda: with_content(alice_b, "newMessage", "after removal"))
