"""Mail without SMTP: the development outbox folder, production's warning, and SMTP failures that
must not break the request that caused the mail."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import socket

import httpx
import pytest
from commonly_auth.models import User

from commonly_kernel.testing import serve


def outbox_mails(folder) -> list[email.message.EmailMessage]:
    if not folder.exists():
        return []
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(folder.glob("*.eml"))]


def server_log(caplog) -> str:
    """What the server logged (not the test's own HTTP client)."""
    return "\n".join(record.getMessage() for record in caplog.records
                     if record.name.startswith(("commonly", "uvicorn", "quart", "tortoise")))


async def test_development_without_smtp_verifies_accounts_at_once(client, register, tmp_path):
    registered = await register(client, "alice", "alice@example.com")
    assert registered.status_code == 201
    assert registered.json()["user"]["verified"] is True and registered.json()["token"]
    assert outbox_mails(tmp_path / "outbox") == []  # no verification mail either


@pytest.fixture
async def drained(live_server):
    return live_server.app.kernel.drain


async def test_outbox_mail_has_the_link_and_the_log_never_has_the_token(client, make_user, tmp_path, caplog,
                                                                       drained):
    caplog.set_level(logging.DEBUG)
    await make_user(username="alice", email="alice@example.com", password="old password")
    assert (await client.post("/api/auth/forgot", json={"email": "alice@example.com"})).status_code == 200
    assert (await client.post("/api/auth/forgot", json={"email": "nobody@example.com"})).status_code == 200
    await drained()
    [mail] = outbox_mails(tmp_path / "outbox")
    assert mail["To"] == "alice@example.com"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"http://localhost:3000/reset-password/(\S+)", body)
    assert match, body
    token = match.group(1)
    # recipient and subject are logged, never the token or the link
    assert any("alice@example.com" in record.getMessage() and mail["Subject"] in record.getMessage()
               for record in caplog.records if record.name == "commonly.auth.mail")
    assert token not in server_log(caplog)
    assert "reset-password/" not in server_log(caplog)
    # and the outbox token really works
    reset = await client.post(f"/api/auth/reset/{token}", json={"password": "brand new secret"})
    assert reset.status_code == 200


async def test_a_refused_reset_does_not_leave_its_live_token_in_the_log(client, make_user, tmp_path, caplog,
                                                                       drained):
    caplog.set_level(logging.DEBUG)
    await make_user(username="alice", email="alice@example.com", password="old password")
    await client.post("/api/auth/forgot", json={"email": "alice@example.com"})
    await drained()
    [mail] = outbox_mails(tmp_path / "outbox")
    token = mail.get_body(preferencelist=("plain",)).get_content().split("/reset-password/")[1].split()[0]
    refused = await client.post(f"/api/auth/reset/{token}", json={"password": "short"})
    assert refused.status_code == 400  # the token is still valid now...
    assert token not in server_log(caplog)  # ... so it must not be in the log


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_ENV": "production", "REGISTRATION_INVITE_ONLY": "0"}])
async def test_production_without_smtp_sends_nothing_and_warns(client, make_user, tmp_path, caplog, drained):
    caplog.set_level(logging.INFO)
    await make_user(username="alice", email="alice@example.com")
    assert (await client.post("/api/auth/forgot", json={"email": "alice@example.com"})).status_code == 200
    await drained()
    assert outbox_mails(tmp_path / "outbox") == []
    warnings = [record for record in caplog.records
                if record.levelno == logging.WARNING and "SMTP" in record.getMessage()]
    assert warnings, caplog.text
    # production without SMTP: accounts are verified at once (no mail could confirm them)
    registered = await client.post("/api/auth/register", json={
        "username": "bob", "email": "bob@example.com", "password": "correct horse"})
    assert registered.status_code == 201 and registered.json()["user"]["verified"] is True


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_smtp() -> dict[str, str]:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(closed_port()), "SMTP_TLS": "none"}


async def test_unreachable_smtp_does_not_break_requests(make_app, unreachable_smtp, caplog):
    caplog.set_level(logging.INFO)
    app = make_app(**unreachable_smtp)
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        registered = await http.post("/api/auth/register", json={
            "username": "carol", "email": "carol@example.com", "password": "correct horse"})
        assert registered.status_code == 201, registered.text
        assert registered.json()["user"]["verified"] is False
        forgot = await http.post("/api/auth/forgot", json={"email": "carol@example.com"})
        assert forgot.status_code == 200
        await app.kernel.drain()
        assert await User.filter(username="carol").exists()
    failures = [record for record in caplog.records
                if record.levelno == logging.ERROR and "mail" in record.getMessage()]
    assert failures, caplog.text
