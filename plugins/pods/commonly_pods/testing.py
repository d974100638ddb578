"""pytest fixtures for suites that build on the pods plugin (loaded through ``pytest11``).

- ``make_pod(owner, name="Pod", **fields)``: ``POST /api/pods``, returns the created pod.
- ``AgentTokens``: a plugin object standing in for the registry's agent tokens, for suites that
  do not load it: ``agent:<userId>:<agentName>:<instanceId>:<scopes>`` (scopes comma-separated;
  none = unrestricted) is an agent actor acting as that bot user. Add ``AgentTokens()`` to
  ``commonly_plugins``.
- ``make_agent(agent_name="helper", instance_id="default", scopes=())``: a bot user and such a
  token (``TestAgent``); ``seat(agent, pod)`` makes its bot user a member the way installing
  does (agents cannot join by themselves).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from commonly_kernel import Actor, hookimpl

from . import add_member, get_pod


class AgentTokens:
    name = "test-agent-tokens"

    @hookimpl
    def commonly_actor_from_token(self, token: str, settings: Any) -> Actor | None:
        if not token.startswith("agent:"):
            return None
        _, user_id, agent_name, instance_id, scopes = token.split(":", 4)
        return Actor(id=user_id, kind="agent", username=agent_name, is_bot=True,
                     scopes=frozenset(scope for scope in scopes.split(",") if scope),
                     claims={"agentName": agent_name, "instanceId": instance_id})


@dataclass
class TestAgent:
    """An agent instance acting as a bot user through an ``AgentTokens`` token."""

    __test__ = False

    user: Any
    agent_name: str
    instance_id: str
    scopes: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def token(self) -> str:
        return f"agent:{self.user.id}:{self.agent_name}:{self.instance_id}:{','.join(self.scopes)}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def with_scopes(self, *scopes: str) -> TestAgent:
        return TestAgent(self.user, self.agent_name, self.instance_id, scopes)

    def as_instance(self, instance_id: str) -> TestAgent:
        return TestAgent(self.user, self.agent_name, instance_id, self.scopes)


@pytest.fixture
def make_agent(make_user: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[TestAgent]]:
    """``await make_agent(agent_name="helper", instance_id="default", scopes=(), username=None)``."""

    async def create(agent_name: str = "helper", instance_id: str = "default",
                     scopes: tuple[str, ...] = (), username: str | None = None) -> TestAgent:
        user = await make_user(username=username, is_bot=True)
        return TestAgent(user, agent_name, instance_id, tuple(scopes))

    return create


@pytest.fixture
def make_pod(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_pod(owner, name="Pod", **fields)``: POST /api/pods, returns the created pod."""

    async def create(owner: Any, name: str = "Pod", **fields: Any) -> dict[str, Any]:
        response = await client.post("/api/pods", json={"name": name, **fields}, headers=owner.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create


@pytest.fixture
def seat(live_server: Any) -> Callable[..., Awaitable[None]]:
    """``await seat(agent, pod)``: the agent's bot user becomes a member, as installing does."""

    async def add(agent: Any, pod: dict[str, Any]) -> None:
        found = await get_pod(pod["id"])
        assert found is not None
        await add_member(live_server.app.kernel, found, agent.id)

    return add
