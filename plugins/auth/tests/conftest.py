from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

#: Substrings that must never appear in any response body (password hashes and their field names).
SECRET_MARKERS = ("passwordHash", "password_hash", "$argon2", "$2b$")


@pytest.fixture
def commonly_plugins() -> list[str]:
    return ["auth"]


def check_no_secrets(response: httpx.Response) -> None:
    for marker in SECRET_MARKERS:
        assert marker not in response.text, f"{marker!r} leaked in {response.request.url}"


@pytest.fixture
def assert_no_secrets() -> Callable[[httpx.Response], None]:
    return check_no_secrets


@pytest.fixture
def register() -> Callable[..., Awaitable[httpx.Response]]:
    """``await register(client, username, email=None, password="correct horse", **extra)``: POST
    /api/auth/register (the email defaults to ``<username>@example.com``)."""

    async def post(http: httpx.AsyncClient, username: str, email: str | None = None,
                   password: str = "correct horse", **extra: Any) -> httpx.Response:
        email = f"{username}@example.com" if email is None else email
        body = {"username": username, "email": email, "password": password, **extra}
        response = await http.post("/api/auth/register", json=body)
        check_no_secrets(response)
        return response

    return post
