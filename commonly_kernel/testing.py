"""pytest fixtures for Commonly and for plugin authors (loaded through the ``pytest11`` entry point).

A suite names the plugins it needs by overriding ``commonly_plugins``; every test then gets a fresh
app with only those plugins and a fresh database — a SQLite file, or a new PostgreSQL database
when ``COMMONLY_TEST_DATABASE_URL`` points at a server (its database is only used to create and
drop the per-test ones)::

    @pytest.fixture
    def commonly_plugins():
        return ["auth", "social"]

    async def test_feed(client, make_user):
        alice = await make_user()
        response = await client.get("/api/activity/feed", headers=alice.headers)

``client`` talks HTTP to a real uvicorn server on a free loopback port, ``connect_socket`` opens
real socket.io clients against it. ``make_app`` builds further apps (other plugins, settings).
``assert_error(response, status, code=None)`` checks the one error envelope and returns its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio
import socketio
import uvicorn

from .app import CommonlyApp, create_app
from .settings import Settings

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@dataclass
class LiveServer:
    """A running server: ``url`` is ``http://127.0.0.1:<port>``."""

    app: CommonlyApp
    url: str
    server: uvicorn.Server


@pytest.fixture
def commonly_plugins() -> Sequence[str | object]:
    """Override in a suite: the plugins (entry-point names or objects) its apps load."""
    return []


@pytest.fixture
def commonly_settings() -> dict[str, Any]:
    """Override in a suite (or a test module) to add settings to every app."""
    return {}


@pytest_asyncio.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    admin_url = os.environ.get("COMMONLY_TEST_DATABASE_URL")
    if not admin_url:
        yield f"sqlite://{tmp_path / 'commonly.sqlite3'}"
        return
    async with fresh_postgres_database(admin_url) as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_postgres_database(admin_url: str) -> AsyncIterator[str]:
    """Create a uniquely named database on the server of ``admin_url``; drop it afterwards."""
    import asyncpg

    name = f"commonly_t_{uuid.uuid4().hex[:16]}"
    parts = urlsplit(admin_url.replace("postgresql://", "postgres://", 1))
    admin = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str, commonly_settings: dict[str, Any]) -> Callable[..., Settings]:
    """``make_settings(**overrides)``: isolated settings (the process environment is not read)."""

    def build(**overrides: Any) -> Settings:
        base = {
            "COMMONLY_ENV": "development",
            "COMMONLY_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "COMMONLY_MAIL_OUTBOX": str(tmp_path / "outbox"),
            # A full collection per app start would cost every test a tenth of a second.
            "COMMONLY_GC_FREEZE": "0",
            **commonly_settings,
            **overrides,
        }
        return Settings.from_env(environ={}, **base)

    return build


@pytest.fixture
def make_app(
    make_settings: Callable[..., Settings], commonly_plugins: Sequence[str | object]
) -> Callable[..., CommonlyApp]:
    """``make_app(plugins=None, **settings)``: a new app (not started)."""

    def build(plugins: Sequence[str | object] | None = None, **overrides: Any) -> CommonlyApp:
        return create_app(make_settings(**overrides), plugins=list(commonly_plugins if plugins is None else plugins))

    return build


@pytest.fixture
def app(make_app: Callable[..., CommonlyApp]) -> CommonlyApp:
    """The suite's app: ``commonly_plugins`` with ``commonly_settings``."""
    return make_app()


@contextlib.asynccontextmanager
async def serve(app: CommonlyApp, host: str = "127.0.0.1") -> AsyncIterator[LiveServer]:
    """Run ``app`` under uvicorn on a free port of ``host`` until the block ends."""
    config = uvicorn.Config(app, host=host, port=0, lifespan="on", log_level="warning", access_log=False,
                            proxy_headers=app.kernel.settings.trust_proxy)
    server = uvicorn.Server(config)

    async def run() -> None:
        try:
            await server.serve()
        except SystemExit as exit_:
            # uvicorn exits the process when the app's startup fails; inside a test that would
            # escape the event loop, so turn it into an error raised below.
            raise RuntimeError(f"the server stopped during startup (exit code {exit_.code}; "
                               "see the log above)") from None

    task = asyncio.create_task(run())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped during startup (see the log above)")
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(app, f"http://{host}:{port}", server)
    finally:
        server.should_exit = True
        await task


@pytest_asyncio.fixture
async def live_server(app: CommonlyApp) -> AsyncIterator[LiveServer]:
    """The suite's app, served on a free loopback port (lifespan run, database ready)."""
    async with serve(app) as server:
        yield server


@pytest_asyncio.fixture
async def client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``live_server``."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        yield http


@pytest_asyncio.fixture
async def connect_socket(live_server: LiveServer) -> AsyncIterator[Callable[..., Awaitable[socketio.AsyncClient]]]:
    """``await connect_socket(token, namespace="/", events=[...])``: a connected socket.io client
    (websocket transport). Events named in ``events`` are collected in ``client.received``."""
    clients: list[socketio.AsyncClient] = []

    async def connect(token: str | None = None, *, namespace: str = "/", events: Sequence[str] = (),
                      server: LiveServer | None = None) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False)
        sio.received = []  # type: ignore[attr-defined]
        for event in events:
            sio.on(event, _collector(sio, event), namespace=namespace)
        clients.append(sio)
        await sio.connect((server or live_server).url, transports=["websocket"], namespaces=[namespace],
                          auth={"token": token} if token else None, wait_timeout=5)
        return sio

    yield connect
    for sio in clients:
        if sio.connected:
            await sio.disconnect()


def _collector(sio: socketio.AsyncClient, event: str) -> Callable[..., Awaitable[None]]:
    async def collect(data: Any = None) -> None:
        sio.received.append((event, data))  # type: ignore[attr-defined]

    return collect


@pytest_asyncio.fixture
async def openapi_document(client: httpx.AsyncClient) -> dict[str, Any]:
    """The app's OpenAPI document, as ``GET /openapi.json`` serves it."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def check_documented_errors(document: dict[str, Any], method: str, path: str, required: set[int]) -> dict[str, Any]:
    """The operation at ``method path`` documents every status in ``required``, a success, and each
    error with the envelope's schema. Returns the operation for a suite's own checks."""
    operation = document["paths"][path][method]
    responses = {int(status): body for status, body in operation["responses"].items()}
    assert required <= set(responses), (method, path, sorted(responses))
    assert any(200 <= status < 300 for status in responses), (method, path)
    for status, body in responses.items():
        if status >= 400:
            assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                (method, path, status)
    return operation


def check_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the one error envelope of the spec: status, snake_case code, message, requestId equal
    to the X-Request-Id header; returns the body."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) <= {"error", "message", "requestId", "details"}, body
    assert isinstance(body["error"], str) and body["error"] == body["error"].lower(), body
    assert " " not in body["error"]
    assert isinstance(body["message"], str) and body["message"], body
    assert body["requestId"] and body["requestId"] == response.headers["X-Request-Id"], body
    if code is not None:
        assert body["error"] == code, body
    return body


@pytest.fixture
def assert_error() -> Callable[..., dict[str, Any]]:
    """``assert_error(response, status, code=None)``: check the error envelope, return the body."""
    return check_error


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``condition()`` is true (for events that arrive asynchronously). The timeout is
    generous because it costs nothing when the condition comes true: a loaded CI machine may take
    seconds to deliver what takes milliseconds here."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
