"""Fixtures of the vector index suite: apps with ``auth``, ``pods`` and ``vector_index``, the real
bundled model (loaded once per session: the embedding module caches it), a stand-in for the
registry's agent tokens, an embedder wrapper that counts model calls, and API helpers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest
from commonly_pods import add_member, get_pod
from commonly_pods.testing import AgentTokens, TestAgent
from commonly_vector_index.embedding import SentenceTransformerEmbedder

from commonly_kernel import hookimpl

#: Fast settings: the worker polls often, failed jobs retry at once, a rebuild waits for the queue.
FAST = {"COMMONLY_VECTOR_POLL_SECONDS": "0.1", "COMMONLY_VECTOR_RETRY_SECONDS": "0",
        "COMMONLY_VECTOR_REBUILD_WAIT": "30", "COMMONLY_RATE_LIMITS": "0"}


# -- plugins standing in for others ----------------------------------------------------------------


class CountingEmbedder:
    """The real bundled model behind the ``Embedder`` interface, counting calls; texts containing
    ``poison`` make it fail (a job that keeps failing); ``available`` can be switched off."""

    def __init__(self) -> None:
        self.inner = SentenceTransformerEmbedder()
        self.name = self.inner.name
        self.calls = 0
        self.usable = True
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def available(self) -> bool:
        return self.usable and self.inner.available()

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.calls += 1
        if any("poison" in text.lower() for text in texts):
            raise ValueError("this text poisons the model")
        return self.inner.embed(texts)


class EmbedderPlugin:
    """Offers ``embedder`` through the plugin's ``commonly_vector_embedder`` hook."""

    name = "test-embedder"

    def __init__(self, embedder: CountingEmbedder) -> None:
        self.embedder = embedder

    @hookimpl
    def commonly_vector_embedder(self, settings: Any) -> CountingEmbedder:
        return self.embedder


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def commonly_plugins(embedder: CountingEmbedder) -> list[Any]:
    return ["auth", "pods", "vector_index", AgentTokens(), EmbedderPlugin(embedder)]


@pytest.fixture
def commonly_settings() -> dict[str, Any]:
    return dict(FAST)


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def join_pod(client: httpx.AsyncClient, live_server: Any) -> Callable[..., Awaitable[None]]:
    """``await join_pod(user_or_agent, pod)``: people join through the API; an agent's bot user is
    seated the way the registry installs it (``commonly_pods.add_member``)."""

    async def join(user: Any, pod: dict[str, Any]) -> None:
        if isinstance(user, TestAgent):
            await add_member(live_server.app.kernel, await get_pod(pod["id"]), user.id)
            return
        response = await client.post(f"/api/pods/{pod['id']}/join", headers=user.headers)
        assert response.status_code == 200, response.text

    return join


@pytest.fixture
def make_asset(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def create(user: Any, pod: dict[str, Any], **fields: Any) -> dict[str, Any]:
        response = await client.post(f"/api/pods/{pod['id']}/assets", json=fields, headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def indexed(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await indexed(user, pod)``: wait until the pod's queue is empty; returns its stats."""

    async def wait(user: Any, pod: dict[str, Any], timeout: float = 180) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            response = await client.get(f"/api/v1/pods/{pod['id']}/index/stats", headers=user.headers)
            assert response.status_code == 200, response.text
            stats = response.json()["stats"]
            if stats["pending"] == 0:
                return stats
            assert loop.time() < deadline, f"the queue did not drain: {stats}"
            await asyncio.sleep(0.05)

    return wait


@pytest.fixture
def search(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    """``await search(user, pod, q, **params)``: GET /api/v1/pods/:id/index/search."""

    async def get(user: Any, pod: dict[str, Any], q: str, **params: Any) -> httpx.Response:
        return await client.get(f"/api/v1/pods/{pod['id']}/index/search", params={"q": q, **params},
                                headers=user.headers)

    return get
