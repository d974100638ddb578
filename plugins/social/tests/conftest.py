from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest


@pytest.fixture
def commonly_plugins() -> list[str]:
    return ["auth", "social"]


@pytest.fixture
def commonly_settings() -> dict[str, str]:
    return {"COMMONLY_RATE_LIMITS": "0"}


@pytest.fixture
def make_post(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_post(user, content="...", **fields)``: POST /api/posts, asserting 201."""

    async def create(user: Any, content: str = "Hello world", **fields: Any) -> dict[str, Any]:
        response = await client.post("/api/posts", json={"content": content, **fields}, headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
