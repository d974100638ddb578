"""``commonly_actor_from_token``: how HTTP requests find their actor, and ``require_actor``."""

from __future__ import annotations

import httpx
import pytest
from quart import Blueprint

from commonly_kernel import Actor, Forbidden, Unauthorized, current_actor, hookimpl, require_actor
from commonly_kernel.testing import serve


def whoami_blueprint() -> Blueprint:
    blueprint = Blueprint("whoami", __name__)

    @blueprint.get("/api/whoami")
    @require_actor()
    async def whoami() -> dict[str, str]:
        actor = current_actor()
        return {"id": actor.id, "kind": actor.kind}

    @blueprint.get("/api/agents-only")
    @require_actor(kind="agent")
    async def agents_only() -> dict[str, bool]:
        return {"ok": True}

    @blueprint.get("/api/admin-only")
    @require_actor(role="admin")
    async def admin_only() -> dict[str, bool]:
        return {"ok": True}

    @blueprint.get("/api/needs-scope")
    @require_actor(scopes=["pods:read"])
    async def needs_scope() -> dict[str, bool]:
        return {"ok": True}

    return blueprint


class Users:
    """Sync lookup: plain tokens ``user-<id>``; ``banned`` is known but refused."""

    name = "users"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def commonly_register_blueprints(self):
        return [whoami_blueprint()]

    @hookimpl
    def commonly_actor_from_token(self, token):
        self.seen.append(token)
        if token == "banned":
            raise Forbidden("This account is suspended.", code="account_suspended")
        if token == "expired":
            raise Unauthorized("The session expired.", code="token_expired")
        if token.startswith("user-"):
            return Actor(id=token.removeprefix("user-"), role="admin" if token == "user-root" else "user")
        return None


class Agents:
    """Async lookup, taking only the argument it needs."""

    name = "agents"

    @hookimpl
    async def commonly_actor_from_token(self, token):
        if token.startswith("cm_agent_"):
            return Actor(id=token, kind="agent", scopes=frozenset({"pods:read"}))
        return None


@pytest.fixture
def database_url(tmp_path):
    # Token lookups never touch the database: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'commonly.sqlite3'}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def users():
    return Users()


@pytest.fixture
def commonly_plugins(users):
    return [users, Agents()]


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer user-7"},
    {"Authorization": "bearer  user-7"},
    {"x-auth-token": "user-7"},
    {"x-commonly-agent-token": "user-7"},
])
async def test_actor_from_token_headers(client, headers):
    response = await client.get("/api/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"id": "7", "kind": "user"}


async def test_actor_from_token_async_impl(client):
    response = await client.get("/api/whoami", headers={"x-commonly-agent-token": "cm_agent_abc"})
    assert response.json() == {"id": "cm_agent_abc", "kind": "agent"}


async def test_actor_from_token_bearer_preferred_over_other_headers(client):
    response = await client.get("/api/whoami", headers={**bearer("user-1"), "x-auth-token": "user-2"})
    assert response.json()["id"] == "1"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nobody-knows-me"},
                                     {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"}])
async def test_actor_from_token_missing_or_unknown_is_401(client, headers):
    response = await client.get("/api/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_actor_from_token_forbidden_propagates(client):
    response = await client.get("/api/whoami", headers=bearer("banned"))
    assert response.status_code == 403
    body = response.json()
    assert body == {"error": "account_suspended", "message": "This account is suspended.",
                    "requestId": response.headers["X-Request-Id"]}


async def test_actor_from_token_unauthorized_propagates(client):
    response = await client.get("/api/whoami", headers=bearer("expired"))
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


async def test_actor_from_token_looked_up_once_per_request(client, users):
    await client.get("/api/whoami", headers=bearer("user-3"))
    assert users.seen == ["user-3"]


async def test_require_actor_kind(client):
    assert (await client.get("/api/agents-only", headers=bearer("cm_agent_x"))).status_code == 200
    response = await client.get("/api/agents-only", headers=bearer("user-1"))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


async def test_require_actor_admin_role(client):
    assert (await client.get("/api/admin-only", headers=bearer("user-root"))).status_code == 200
    response = await client.get("/api/admin-only", headers=bearer("user-1"))
    assert response.status_code == 403
    assert response.json()["error"] == "admin_required"


async def test_require_actor_scopes(client):
    # No scopes means unrestricted; an agent holding the scope passes too.
    assert (await client.get("/api/needs-scope", headers=bearer("user-1"))).status_code == 200
    assert (await client.get("/api/needs-scope", headers=bearer("cm_agent_x"))).status_code == 200


async def test_require_actor_missing_scope(make_app):
    class NarrowAgents:
        name = "narrow"

        @hookimpl(tryfirst=True)
        def commonly_actor_from_token(self, token):
            if token != "narrow":
                return None
            return Actor(id="a1", kind="agent", scopes=frozenset({"posts:write"}))

    app = make_app(plugins=[Users(), NarrowAgents()])
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/api/needs-scope", headers=bearer("narrow"))
    assert response.status_code == 403
    assert response.json()["error"] == "missing_scope"
    assert "pods:read" in response.json()["message"]


async def test_actor_from_token_first_non_none_wins(make_app):
    calls: list[str] = []

    class First:
        name = "first"

        @hookimpl(tryfirst=True)
        async def commonly_actor_from_token(self, token):
            calls.append("first")
            return Actor(id="from-first")

    class Second:
        name = "second"

        @hookimpl
        def commonly_actor_from_token(self, token):
            calls.append("second")
            return Actor(id="from-second")

    class Abstains:
        name = "abstains"

        @hookimpl(tryfirst=True)
        async def commonly_actor_from_token(self, token, settings):
            calls.append("abstains")
            assert settings.jwt_secret
            return None

    kernel = make_app(plugins=[First(), Second(), Abstains()]).kernel
    actor = await kernel.hooks.actor_from_token("anything", kernel.settings)
    assert actor == Actor(id="from-first")
    # None does not stop the lookup; the first actor does (no later coroutine is left un-awaited).
    assert calls[-1] == "first"
    assert "second" not in calls
    assert "abstains" in calls


async def test_actor_from_token_none_when_nobody_answers(make_app):
    kernel = make_app(plugins=[Agents()]).kernel
    assert await kernel.hooks.actor_from_token("user-1", kernel.settings) is None


def test_actor_scopes_per_pod():
    from commonly_kernel import Actor

    agent = Actor(id="bot", kind="agent", scopes=frozenset({"messages:read", "messages:write"}),
                  claims={"podScopes": {"pod-a": frozenset({"messages:read"})}})
    assert agent.allows("messages:write")                       # no pod named: the token's scopes
    assert not agent.allows("messages:write", "pod-a")          # pod-a's own scopes
    assert agent.allows("messages:read", "pod-a")
    assert agent.allows("messages:write", "pod-b")              # a pod it names no scopes for
    assert Actor(id="alice").allows("anything", "pod-a")        # no scopes at all: everything
