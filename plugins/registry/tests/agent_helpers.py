"""Shared fixtures and helpers of the registry's event, push, webhook, runtime and reliability
tests: apps with ``auth``, ``pods`` and ``registry``, a catalog file of test agents, and a
``registry`` helper that makes people, pods, installations and agent tokens through the real API.

Test modules load this file by path (the suite runs with ``--import-mode=importlib``)::

    h = load_helpers(__file__)          # see the snippet at the top of each test module
    commonly_plugins = h.commonly_plugins
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from commonly_auth.testing import TestUser, create_test_user

from commonly_kernel.testing import LiveServer, serve

#: Agents of the test catalog (no required scopes: installs choose their own).
AGENTS = ("helper", "summarizer", "echo", "writer", "scout")
PLUGINS = ["auth", "pods", "registry"]


def write_catalog(folder: Path) -> Path:
    path = folder / "agents.json"
    path.write_text(json.dumps({"agents": [
        {"name": name, "displayName": name.capitalize(), "description": f"The {name} test agent", "version": "1.0.0"}
        for name in AGENTS
    ]}))
    return path


def base_settings(folder: Path, **extra: Any) -> dict[str, Any]:
    """What every app of these suites needs: the catalog, no rate limits."""
    return {"COMMONLY_AGENT_CATALOG": str(write_catalog(folder)), "COMMONLY_RATE_LIMITS": "0", **extra}


@pytest.fixture
def commonly_plugins() -> list[Any]:
    return list(PLUGINS)


@pytest.fixture
def commonly_settings(tmp_path: Path) -> dict[str, Any]:
    return base_settings(tmp_path)


@dataclass
class Agent:
    """An installed agent instance and one of its tokens (runtime or bot)."""

    token: str
    installation: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def agent_name(self) -> str:
        return self.installation["agentName"]

    @property
    def instance_id(self) -> str:
        return self.installation["instanceId"]

    @property
    def user_id(self) -> str:
        return self.installation["botUserId"]

    @property
    def username(self) -> str:
        return self.installation["botUsername"]


async def fast_user(settings: Any, username: str | None = None, role: str = "user") -> TestUser:
    """A real account with a real token on the app of ``settings``."""
    return await create_test_user(settings, username=username, role=role)


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


class Registry:
    """People, pods, installs and tokens through the API of one live server."""

    def __init__(self, http: httpx.AsyncClient, server: LiveServer) -> None:
        self.http = http
        self.server = server
        self.kernel = server.app.kernel
        self.settings = server.app.kernel.settings

    async def user(self, username: str | None = None, role: str = "user") -> TestUser:
        return await fast_user(self.settings, username, role)

    async def pod(self, owner: TestUser, name: str = "Pod", **fields: Any) -> dict[str, Any]:
        return expect(await self.http.post("/api/pods", json={"name": name, **fields}, headers=owner.headers), 201)

    async def join(self, user: TestUser, pod: dict[str, Any]) -> None:
        expect(await self.http.post(f"/api/pods/{pod['id']}/join", headers=user.headers), 200)

    async def install(self, user: TestUser, pod: dict[str, Any], agent_name: str = "helper",
                      **fields: Any) -> dict[str, Any]:
        body = {"agentName": agent_name, "podId": pod["id"], **fields}
        return expect(await self.http.post("/api/registry/install", json=body, headers=user.headers),
                      201)["installation"]

    async def runtime_token(self, user: TestUser, pod: dict[str, Any], installation: dict[str, Any]) -> Agent:
        response = await self.http.post(
            f"/api/registry/pods/{pod['id']}/agents/{installation['agentName']}/runtime-tokens",
            json={"label": "test", "instanceId": installation["instanceId"]}, headers=user.headers)
        return Agent(expect(response, 201)["token"], installation)

    async def bot_token(self, user: TestUser, pod: dict[str, Any], installation: dict[str, Any],
                        scopes: list[str] | None = None) -> Agent:
        body: dict[str, Any] = {"instanceId": installation["instanceId"]}
        if scopes is not None:
            body["scopes"] = scopes
        response = await self.http.post(
            f"/api/registry/pods/{pod['id']}/agents/{installation['agentName']}/user-token", json=body,
            headers=user.headers)
        return Agent(expect(response, 201)["token"], installation)

    async def agent(self, user: TestUser, pod: dict[str, Any], agent_name: str = "helper", **fields: Any) -> Agent:
        """Install ``agent_name`` in ``pod`` as ``user`` and issue a runtime token for it."""
        return await self.runtime_token(user, pod, await self.install(user, pod, agent_name, **fields))

    async def post(self, user: TestUser | Agent, pod: dict[str, Any], content: str) -> dict[str, Any]:
        if isinstance(user, Agent):
            response = await self.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages",
                                            json={"content": content}, headers=user.headers)
            return expect(response, 201)["message"]
        return expect(await self.http.post(f"/api/pods/{pod['id']}/messages", json={"content": content},
                                           headers=user.headers), 201)

    async def fetch(self, agent: Agent, limit: int | None = None, bot: bool = False,
                    **params: Any) -> list[dict[str, Any]]:
        if limit is not None:
            params["limit"] = limit
        path = "/api/agents/runtime/bot/events" if bot else "/api/agents/runtime/events"
        return expect(await self.http.get(path, params=params, headers=agent.headers), 200)["events"]

    async def ack(self, agent: Agent, event_id: int, result: dict[str, Any] | None = None,
                  status: int = 200, bot: bool = False) -> Any:
        body = {} if result is None else {"result": result}
        base = "/api/agents/runtime/bot/events" if bot else "/api/agents/runtime/events"
        return expect(await self.http.post(f"{base}/{event_id}/ack", json=body, headers=agent.headers), status)


@pytest.fixture
def registry(client: httpx.AsyncClient, live_server: LiveServer) -> Registry:
    return Registry(client, live_server)


@contextlib.asynccontextmanager
async def running(make_app: Callable[..., Any], **settings: Any) -> AsyncIterator[Registry]:
    """Another app on the test's database, with ``settings`` on top of the suite's, served."""
    app = make_app(**settings)
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield Registry(http, server)


@pytest.fixture
def make_user(live_server: Any) -> Callable[..., Awaitable[TestUser]]:
    """Like the auth plugin's ``make_user``, with the password hashed once per session."""
    settings = live_server.app.kernel.settings

    async def create(username: str | None = None, role: str = "user") -> TestUser:
        return await fast_user(settings, username, role)

    return create


async def until(condition: Callable[[], Awaitable[Any]], timeout: float = 5.0, what: str = "condition") -> Any:
    """``wait_for`` for an async condition (a database read): its first truthy answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (answer := await condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        await asyncio.sleep(0.02)
    return answer


async def agent_socket(url: str, token: str, events: tuple[str, ...] = ("event",),
                       namespace: str = "/agents") -> socketio.AsyncClient:
    """A connected socket.io client like ``connect_socket``'s (``.received``), for servers other
    than the suite's; disconnect it yourself."""
    sio = socketio.AsyncClient(reconnection=False)
    sio.received = []  # type: ignore[attr-defined]
    for event in events:
        sio.on(event, _collector(sio, event), namespace=namespace)
    await sio.connect(url, transports=["websocket"], namespaces=[namespace], auth={"token": token}, wait_timeout=5)
    return sio


def _collector(sio: socketio.AsyncClient, event: str) -> Callable[..., Awaitable[None]]:
    async def collect(data: Any = None) -> None:
        sio.received.append((event, data))  # type: ignore[attr-defined]

    return collect


# -- a server in its own process (test_reliability.py): python agent_helpers.py PORT DATABASE_URL [KEY=VALUE ...]


def serve_in_this_process(argv: list[str]) -> None:
    import tempfile

    import uvicorn

    from commonly_kernel import Settings, create_app
    from commonly_kernel.testing import TEST_JWT_SECRET

    port, database_url, *pairs = argv
    folder = Path(tempfile.mkdtemp(prefix="commonly-registry-"))
    extra = dict(pair.split("=", 1) for pair in pairs)
    settings = Settings.from_env(environ={}, DATABASE_URL=database_url, JWT_SECRET=TEST_JWT_SECRET,
                                 COMMONLY_DATA_DIR=str(folder / "data"), COMMONLY_LOG_LEVEL="WARNING",
                                 **base_settings(folder, **extra))
    uvicorn.run(create_app(settings, plugins=PLUGINS), host="127.0.0.1", port=int(port), log_level="warning",
                lifespan="on", access_log=False)


if __name__ == "__main__":
    import sys

    serve_in_this_process(sys.argv[1:])
