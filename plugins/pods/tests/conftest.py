"""Fixtures of the pods suite: apps with ``auth`` and ``pods``, a stand-in for the registry's agent
tokens, a recorder of the domain hooks, and helpers that make pods and messages through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from commonly_pods.testing import AgentTokens

from commonly_kernel import Actor, ContextSearch, ContextSection, hookimpl

# -- plugins standing in for others ----------------------------------------------------------------


class HookRecorder:
    """Records the pods plugin's domain hooks as ``(hook, ...)`` tuples; ``sections`` is what it
    contributes to every pod context."""

    name = "test-hook-recorder"

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.sections: list[ContextSection] = []
        self.context_calls: list[tuple[str, str, dict[str, Any]]] = []
        #: What ``commonly_context_search`` answers (None: leave it to the keyword search).
        self.search_answer: ContextSearch | None = None
        self.search_calls: list[tuple[str, str, str, int, list[str], bool]] = []

    def of(self, hook: str) -> list[tuple[Any, ...]]:
        return [event[1:] for event in self.events if event[0] == hook]

    @hookimpl
    def commonly_message_created(self, message: Any, pod: Any) -> None:
        self.events.append(("message_created", message["id"], str(pod.id), message["content"]))

    @hookimpl
    async def commonly_asset_saved(self, asset: Any) -> None:
        self.events.append(("asset_saved", str(asset.id), asset.status))

    @hookimpl
    def commonly_asset_deleted(self, asset: Any) -> None:
        self.events.append(("asset_deleted", str(asset.id)))

    @hookimpl
    def commonly_pod_deleted(self, pod_id: str) -> None:
        self.events.append(("pod_deleted", pod_id))

    @hookimpl
    def commonly_pod_member_changed(self, pod: Any, user_id: str, change: str) -> None:
        self.events.append(("pod_member_changed", str(pod.id), user_id, change))

    @hookimpl
    def commonly_pod_context(self, pod: Any, actor: Actor, query: dict[str, Any]) -> list[ContextSection]:
        self.context_calls.append((str(pod.id), actor.id, query))
        return list(self.sections)

    @hookimpl
    def commonly_context_search(self, pod: Any, actor: Actor, query: str, limit: int, types: list[str],
                                include_skills: bool) -> ContextSearch | None:
        self.search_calls.append((str(pod.id), actor.id, query, limit, types, include_skills))
        return self.search_answer


@pytest.fixture
def hooks() -> HookRecorder:
    return HookRecorder()


@pytest.fixture
def commonly_plugins(hooks: HookRecorder) -> list[Any]:
    return ["auth", "pods", AgentTokens(), hooks]


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def join_pod(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await join_pod(user, pod)``: POST /api/pods/:id/join, which must succeed."""

    async def join(user: Any, pod: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"/api/pods/{pod['id']}/join", headers=user.headers)
        assert response.status_code == 200, response.text
        return response.json()

    return join


@pytest.fixture
def post_message(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await post_message(user, pod, content="hello", **fields)``: a message that must be created."""

    async def post(user: Any, pod: dict[str, Any], content: str = "hello", **fields: Any) -> dict[str, Any]:
        response = await client.post(f"/api/pods/{pod['id']}/messages", json={"content": content, **fields},
                                     headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return post


@pytest.fixture
def make_asset(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_asset(user, pod, **fields)``: POST /api/pods/:id/assets, returns the asset."""

    async def create(user: Any, pod: dict[str, Any], **fields: Any) -> dict[str, Any]:
        response = await client.post(f"/api/pods/{pod['id']}/assets", json=fields, headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
