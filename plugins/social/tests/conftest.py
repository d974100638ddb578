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


@pytest.fixture
def make_post(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_post(user, content="...", **fields)``: POST /api/posts, asserting 201."""

    async def create(user: Any, content: str = "Hello world", **fields: Any) -> dict[str, Any]:
        response = await client.post("/api/posts", json={"content": content, **fields}, headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
