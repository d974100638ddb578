"""Fixtures of the registry suite: apps with ``auth``, ``pods`` and ``registry``, a catalog file with
a few agents (and a skills catalog) written to the test's folder, and helpers that make pods,
installations and tokens through the API.

A test module or test changes settings through ``extra_settings`` (merged over the catalog files)::

    @pytest.mark.parametrize("extra_settings", [{"OPENAI_API_KEY": "sk-test"}])
    async def test_ready(client, ...): ...
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest


def _load_agent_helpers() -> None:
    """``agent_helpers.py`` (the event, push and runtime suites' shared helpers, also run as a
    separate server process) as the module ``registry_test_helpers``: the suite is collected with
    ``--import-mode=importlib``, so its folder is not on ``sys.path``."""
    name = "registry_test_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("agent_helpers.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_load_agent_helpers()

#: The agents of the catalog file every app of this suite loads (``COMMONLY_AGENT_CATALOG``).
CATALOG_AGENTS: list[dict[str, Any]] = [
    {"name": "helper", "displayName": "Helper", "description": "Answers questions in chat", "version": "1.2.0",
     "categories": ["productivity", "chat"], "iconUrl": "https://cdn.example.com/helper.png",
     "manifest": {"capabilities": ["chat"], "requiredScopes": [],
                  "context": {"required": ["messages"], "optional": []}}},
    {"name": "summarizer", "displayName": "Summarizer", "description": "Writes daily digests of a pod",
     "version": "0.3.1", "categories": ["Productivity"],
     "manifest": {"capabilities": ["summaries"], "requiredScopes": ["agent:messages:write", "summaries:read"],
                  "requiredSettings": ["OPENAI_API_KEY"]}},
    {"name": "archivist", "displayName": "Archivist", "description": "Keeps the pod's long-term memory",
     "version": "2.0.0", "categories": ["memory"],
     "manifest": {"requiredScopes": ["memory:write"], "requiredSettings": []}},
    {"name": "@acme/ops-bot", "displayName": "Ops Bot", "description": "Pages the on-call person",
     "version": "1.0.0", "categories": ["ops"], "registry": "community", "verified": False},
]

#: The skills catalog file (``COMMONLY_SKILLS_CATALOG``).
SKILLS_CATALOG: dict[str, Any] = {
    "source": "awesome-skills", "updatedAt": "2026-01-02T03:04:05Z",
    "items": [
        {"name": "pdf-tools", "description": "Read and split PDF files", "tags": ["documents"]},
        {"name": "git-helper", "description": "Explain git history", "tags": ["code"]},
        {"name": "weather", "description": "Forecasts from the public API", "tags": ["api", "documents"]},
    ],
}


@pytest.fixture
def commonly_plugins() -> list[str]:
    return ["auth", "pods", "registry"]


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    """Override (or parametrize) to add settings to the suite's apps."""
    return {}


@pytest.fixture
def commonly_settings(tmp_path: Path, extra_settings: dict[str, Any]) -> dict[str, Any]:
    agents = tmp_path / "agent-catalog.json"
    agents.write_text(json.dumps({"agents": CATALOG_AGENTS}))
    skills = tmp_path / "skills-catalog.json"
    skills.write_text(json.dumps(SKILLS_CATALOG))
    return {"COMMONLY_AGENT_CATALOG": str(agents), "COMMONLY_SKILLS_CATALOG": str(skills), **extra_settings}


@pytest.fixture
def join_pod(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await join_pod(user, pod)``: POST /api/pods/:id/join, which must succeed."""

    async def join(user: Any, pod: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(f"/api/pods/{pod['id']}/join", headers=user.headers)
        assert response.status_code == 200, response.text
        return response.json()

    return join


@pytest.fixture
def install(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await install(owner, pod, agent="helper", **fields)``: POST /api/registry/install, which must
    answer 201; returns the installation."""

    async def create(owner: Any, pod: dict[str, Any], agent: str = "helper", **fields: Any) -> dict[str, Any]:
        response = await client.post("/api/registry/install", json={"agentName": agent, "podId": pod["id"], **fields},
                                     headers=owner.headers)
        assert response.status_code == 201, response.text
        return response.json()["installation"]

    return create


@pytest.fixture
def runtime_token(client: httpx.AsyncClient) -> Callable[..., Awaitable[str]]:
    """``await runtime_token(owner, pod, agent="helper", **fields)``: a new runtime token of the
    instance (``instanceId``, ``label`` in ``fields``)."""

    async def issue(owner: Any, pod: dict[str, Any], agent: str = "helper", **fields: Any) -> str:
        response = await client.post(f"/api/registry/pods/{pod['id']}/agents/{agent}/runtime-tokens", json=fields,
                                     headers=owner.headers)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    return issue


@pytest.fixture
def bot_token(client: httpx.AsyncClient) -> Callable[..., Awaitable[str]]:
    """``await bot_token(owner, pod, agent="helper", scopes=None, **fields)``: a new bot user token."""

    async def issue(owner: Any, pod: dict[str, Any], agent: str = "helper", scopes: list[str] | None = None,
                    **fields: Any) -> str:
        body = {**fields, **({"scopes": scopes} if scopes is not None else {})}
        response = await client.post(f"/api/registry/pods/{pod['id']}/agents/{agent}/user-token", json=body,
                                     headers=owner.headers)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    return issue


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def agent_headers() -> Callable[[str], dict[str, str]]:
    """``agent_headers(token)``: ``Authorization: Bearer <token>``."""
    return bearer
