"""pytest fixtures for suites whose app includes the auth plugin (a ``pytest11`` entry point).

``make_user`` creates accounts through the plugin's real service (not the rate-limited route, so
a test may create as many as it needs) and returns their token; ``smtp_server`` is a real SMTP
server on a loopback port that keeps what it receives::

    async def test_something(client, make_user):
        alice = await make_user(role="admin")
        response = await client.get("/api/admin/users", headers=alice.headers)
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest

from commonly_kernel import Settings

from .models import User
from .service import hash_password, issue_token

_numbers = itertools.count(1)


@dataclass
class TestUser:
    """An account made for a test, with its password and a valid token."""

    __test__ = False  # not a test class, despite the name

    record: User
    password: str
    token: str

    @property
    def id(self) -> str:
        return str(self.record.id)

    @property
    def username(self) -> str:
        return self.record.username

    @property
    def email(self) -> str:
        return self.record.email

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_test_user(settings: Settings, username: str | None = None, email: str | None = None,
                           password: str = "correct horse", role: str = "user", verified: bool = True,
                           is_bot: bool = False) -> TestUser:
    """An account with a valid token for the app of ``settings`` (its database must be open):
    what ``make_user`` does, for helpers that serve apps of their own."""
    number = next(_numbers)
    username = username or f"user{number}"
    user = await User.create(
        username=username, username_key=username.lower(), email=(email or f"{username}@example.com").lower(),
        password_hash=await _hash_once(password), role=role, verified=verified, is_bot=is_bot,
    )
    return TestUser(user, password, issue_token(user, settings))


@pytest.fixture
def make_user(live_server: Any) -> Callable[..., Awaitable[TestUser]]:
    """``await make_user(username=None, email=None, password="correct horse", role="user",
    verified=True, is_bot=False)``; needs the app's database, so it starts ``live_server``."""
    settings = live_server.app.kernel.settings

    async def create(**fields: Any) -> TestUser:
        return await create_test_user(settings, **fields)

    return create


_hashes: dict[str, str] = {}


async def _hash_once(password: str) -> str:
    """argon2 costs ~0.35 s here, and suites make hundreds of users with the same few passwords:
    hash each password once per test session (every hash still verifies like a fresh one)."""
    if password not in _hashes:
        _hashes[password] = await hash_password(password)
    return _hashes[password]


@dataclass
class CapturedMail:
    to: list[str]
    subject: str
    body: str

    def link(self) -> str:
        """The first http(s) link in the body."""
        match = re.search(r"https?://\S+", self.body)
        assert match, f"no link in mail {self.subject!r}"
        return match.group(0)


@dataclass
class SMTPServer:
    host: str
    port: int
    received: list[CapturedMail] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, str]:
        """The settings that point an app at this server (plain SMTP, no auth)."""
        return {"SMTP_HOST": self.host, "SMTP_PORT": str(self.port), "SMTP_TLS": "none",
                "SMTP_FROM": "Commonly <no-reply@commonly.test>"}

    async def wait_for_mail(self, count: int = 1, timeout: float = 5.0) -> list[CapturedMail]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} mail(s), got {len(self.received)}")
            await asyncio.sleep(0.02)
        return self.received


class _Collector:
    def __init__(self, received: list[CapturedMail]) -> None:
        self.received = received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        self.received.append(CapturedMail(list(envelope.rcpt_tos), str(message["Subject"]),
                                          body.get_content() if body else ""))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port; mails land in ``received``."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SMTPServer("127.0.0.1", port)
    controller = Controller(_Collector(server.received), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
