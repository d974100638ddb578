"""Bad input to the registry's routes: unknown fields, wrong types, values out of range, malformed
JSON and ids that cannot exist. Each is refused (400/404/413, never a 500) and writes nothing."""

from __future__ import annotations

import pytest
from commonly_auth.models import User
from commonly_pods.models import Message, Pod, PodAsset, PodMember
from commonly_registry.models import (
    AgentEvent,
    AgentIdentity,
    BotToken,
    Gateway,
    Installation,
    PublishedAgent,
    RuntimeToken,
    Template,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TABLES = [PublishedAgent, Template, AgentIdentity, Installation, BotToken, AgentEvent, Gateway, PodAsset, PodMember,
          Pod, Message]
MISSING_UUID = "00000000-0000-4000-8000-000000000000"
HUGE = str(2**64)


async def snapshot():
    """Every row a registry write could touch (token use times aside), and the number of users."""
    rows = {model.__name__: sorted(map(str, await model.all().values())) for model in TABLES}
    rows["RuntimeToken"] = sorted(map(str, await RuntimeToken.all().values("id", "identity_id", "token_hash",
                                                                           "label")))
    rows["User"] = [str(await User.all().count())]
    return rows


@pytest.fixture
async def world(client, make_user, make_pod, install, runtime_token, bot_token):
    """root (admin), alice with a pod, helper installed there (with a runtime and a bot token), a
    published agent, a template, an imported skill and a custom gateway."""
    root, alice = await make_user(role="admin"), await make_user()
    pod = await make_pod(alice)
    installation = await install(alice, pod)
    runtime = await runtime_token(alice, pod)
    bot = await bot_token(alice, pod)
    published = await client.post("/api/registry/publish", json={"manifest": {"name": "mine", "version": "1.0.0"}},
                                  headers=alice.headers)
    assert published.status_code == 200
    template = await client.post("/api/registry/templates", json={"agentName": "tmpl"}, headers=alice.headers)
    assert template.status_code == 201
    skill = await client.post("/api/skills/import", json={"podId": pod["id"], "name": "s", "content": "c"},
                              headers=alice.headers)
    assert skill.status_code == 201
    gateway = await client.post("/api/gateways", json={"name": "Edge"}, headers=root.headers)
    assert gateway.status_code == 201
    return {"root": root, "alice": alice, "pod": pod, "installation": installation, "runtime": runtime, "bot": bot,
            "gateway": gateway.json()["gateway"]}


def route_table(world):
    pod, agents = world["pod"]["id"], f"/api/registry/pods/{world['pod']['id']}/agents/helper"
    return {
        "install": ("POST", "/api/registry/install", "alice"),
        "patch": ("PATCH", agents, "alice"),
        "runtime_token": ("POST", f"{agents}/runtime-tokens", "alice"),
        "bot_token": ("POST", f"{agents}/user-token", "alice"),
        "publish": ("POST", "/api/registry/publish", "alice"),
        "template": ("POST", "/api/registry/templates", "alice"),
        "gateway": ("POST", "/api/gateways", "root"),
        "gateway_patch": ("PATCH", f"/api/gateways/{world['gateway']['id']}", "root"),
        "skill": ("POST", "/api/skills/import", "alice"),
        "dev_event": ("POST", "/api/dev/agents/events", "alice"),
        "_pod": pod,
    }


POD = "<pod>"
BAD_BODIES = [
    ("install", {}),
    ("install", {"agentName": "helper"}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "autoStart": True}),
    ("install", {"agentName": 5, "podId": POD}),
    ("install", {"agentName": "", "podId": POD}),
    ("install", {"agentName": "archivist", "podId": 5, "scopes": ["memory:write"]}),
    ("install", {"agentName": "archivist", "podId": None, "scopes": ["memory:write"]}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": "memory:write"}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write", 5]}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"] * 31}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "config": "x"}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "config": []}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "instanceId": ""}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "instanceId": "i" * 81}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "displayName": "d" * 201}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write"], "version": 2}),
    ("install", {"agentName": "archivist", "podId": POD, "scopes": ["memory:write", "root"]}),
    ("patch", {"status": "uninstalled"}),
    ("patch", {"status": "deleted"}),
    ("patch", {"scopes": "messages:write"}),
    ("patch", {"scopes": ["messages:write", "nope"]}),
    ("patch", {"config": []}),
    ("patch", {"displayName": 5}),
    ("patch", {"agentName": "archivist"}),
    ("patch", {"podId": MISSING_UUID}),
    ("patch", {"installedBy": MISSING_UUID}),
    ("runtime_token", {"label": 5}),
    ("runtime_token", {"label": "l" * 121}),
    ("runtime_token", {"force": "yes"}),
    ("runtime_token", {"force": 1}),
    ("runtime_token", {"scopes": []}),
    ("runtime_token", {"instanceId": ""}),
    ("bot_token", {"scopes": "agent:context:read"}),
    ("bot_token", {"scopes": ["agent:context:read", "nope"]}),
    ("bot_token", {"scopes": [5]}),
    ("bot_token", {"scopes": ["agent:context:read"] * 11}),
    ("bot_token", {"label": "x"}),
    ("publish", {}),
    ("publish", {"manifest": "x"}),
    ("publish", {"manifest": []}),
    ("publish", {"manifest": {"name": "other", "version": "1"}, "categories": "a"}),
    ("publish", {"manifest": {"name": "other", "version": "1"}, "tags": [5]}),
    ("publish", {"manifest": {"name": "other", "version": "1"}, "readme": 5}),
    ("publish", {"manifest": {"name": "other", "version": "1"}, "version": "1"}),
    ("publish", {"manifest": {"name": "other", "version": 1}}),
    ("publish", {"manifest": {"name": "mine", "version": "2.0.0", "requiredScopes": "all"}}),
    ("template", {}),
    ("template", {"agentName": ""}),
    ("template", {"agentName": 5}),
    ("template", {"agentName": "other", "visibility": "team"}),
    ("template", {"agentName": "other", "owner": MISSING_UUID}),
    ("template", {"agentName": "other", "iconUrl": "u" * 501}),
    ("template", {"agentName": "Other Name"}),
    ("gateway", {}),
    ("gateway", {"name": ""}),
    ("gateway", {"name": 5}),
    ("gateway", {"name": "x", "slug": "Bad Slug"}),
    ("gateway", {"name": "x", "metadata": []}),
    ("gateway", {"name": "x", "id": MISSING_UUID}),
    ("gateway_patch", {"slug": "x"}),
    ("gateway_patch", {"name": ""}),
    ("gateway_patch", {"metadata": "x"}),
    ("gateway_patch", {"createdAt": "2020-01-01T00:00:00Z"}),
    ("skill", {}),
    ("skill", {"podId": POD, "name": "n"}),
    ("skill", {"podId": POD, "name": "n", "content": ""}),
    ("skill", {"podId": POD, "name": "n", "content": "c", "scope": "team"}),
    ("skill", {"podId": POD, "name": "n", "content": "c", "tags": "a"}),
    ("skill", {"podId": 5, "name": "n", "content": "c"}),
    ("skill", {"podId": POD, "name": "n" * 201, "content": "c"}),
    ("skill", {"podId": POD, "name": "n", "content": "c", "unknown": 1}),
    ("skill", {"podId": POD, "name": "n", "content": "c", "scope": "agent"}),
    ("dev_event", {}),
    ("dev_event", {"podId": POD, "agentName": "helper", "type": ""}),
    ("dev_event", {"podId": POD, "agentName": "helper", "type": "t", "payload": "x"}),
    ("dev_event", {"podId": POD, "agentName": "helper", "type": "t", "payload": []}),
    ("dev_event", {"podId": POD, "agentName": "helper", "type": "t", "status": "delivered"}),
]


def fill(body, pod_id):
    return {key: pod_id if value == POD else value for key, value in body.items()}


async def test_bad_bodies_are_400_and_write_nothing(client, world, assert_error):
    routes = route_table(world)
    before = await snapshot()
    for route, body in BAD_BODIES:
        method, path, who = routes[route]
        response = await client.request(method, path, json=fill(body, routes["_pod"]), headers=world[who].headers)
        error = assert_error(response, 400)
        assert error.get("details"), (route, body, error)  # which field, and why
    assert await snapshot() == before


async def test_malformed_bodies(client, world, assert_error):
    routes = route_table(world)
    before = await snapshot()
    for route in ("install", "patch", "publish", "skill", "gateway"):
        method, path, who = routes[route]
        headers = {**world[who].headers, "Content-Type": "application/json"}
        for raw in (b"{", b"[]", b"null", b'"text"', b"5", b"\xff\xfe{}", b'{"agentName": "helper"} trailing'):
            assert_error(await client.request(method, path, content=raw, headers=headers), 400)
        assert_error(await client.request(method, path, content=b'{"a": "' + b"x" * (1024 * 1024 + 10) + b'"}',
                                          headers=headers), 413)
    # an empty body with a JSON content type on a route without a body is not malformed JSON
    alice = world["alice"]
    json_headers = {**alice.headers, "Content-Type": "application/json"}
    listed = await client.get(f"/api/registry/pods/{routes['_pod']}/agents", headers=json_headers)
    assert listed.status_code == 200 and len(listed.json()["agents"]) == 1
    assert (await client.get("/api/registry/agents", headers=json_headers)).status_code == 200
    assert await snapshot() == before
    # a wrong method on a known path
    assert_error(await client.put("/api/registry/install", json={}, headers=alice.headers), 405)
    assert_error(await client.delete("/api/registry/presets", headers=alice.headers), 405)


async def test_malformed_ids_are_404(client, world, assert_error):
    alice, root, pod = world["alice"], world["root"], world["pod"]["id"]
    installation = world["installation"]["id"]
    agents = f"/api/registry/pods/{pod}/agents/helper"
    before = await snapshot()
    cases = []
    for bad_pod in ("not-a-pod", HUGE, MISSING_UUID, "%00", "x" * 300):
        cases += [
            ("GET", f"/api/registry/pods/{bad_pod}/agents", None, alice),
            ("GET", f"/api/registry/pods/{bad_pod}/agents/helper", None, alice),
            ("PATCH", f"/api/registry/pods/{bad_pod}/agents/helper", {"displayName": "x"}, alice),
            ("DELETE", f"/api/registry/agents/helper/pods/{bad_pod}", None, alice),
            ("POST", f"/api/registry/pods/{bad_pod}/agents/helper/runtime-tokens", {}, alice),
            ("POST", f"/api/registry/pods/{bad_pod}/agents/helper/user-token", {}, alice),
            ("DELETE", f"/api/skills/pods/{bad_pod}/imported?name=s", None, alice),
        ]
        if len(bad_pod) <= 64:  # a longer body field is a validation error (400)
            cases += [("POST", "/api/registry/install", {"agentName": "archivist", "podId": bad_pod,
                                                         "scopes": ["memory:write"]}, alice),
                      ("POST", "/api/skills/import", {"podId": bad_pod, "name": "s", "content": "new"}, alice),
                      ("POST", "/api/dev/agents/events", {"podId": bad_pod, "agentName": "helper", "type": "t"},
                       alice)]
    for bad_name in ("Helper", "nobody", "helper%20", "x" * 130):
        cases += [("GET", f"/api/registry/pods/{pod}/agents/{bad_name}", None, alice),
                  ("PATCH", f"/api/registry/pods/{pod}/agents/{bad_name}", {"displayName": "x"}, alice),
                  ("DELETE", f"/api/registry/agents/{bad_name}/pods/{pod}", None, alice),
                  ("GET", f"/api/registry/agents/{bad_name}", None, alice)]
    for bad_id in ("abc", HUGE, "-1", "0x10", "1.5", MISSING_UUID):
        cases += [
            ("DELETE", f"{agents}/runtime-tokens/{bad_id}", None, alice),
            ("DELETE", f"/api/registry/admin/installations/{bad_id}", None, root),
            ("DELETE", f"/api/registry/admin/installations/{installation}/runtime-tokens/{bad_id}", None, root),
            ("GET", f"/api/gateways/{bad_id}", None, root),
            ("PATCH", f"/api/gateways/{bad_id}", {"name": "x"}, root),
            ("DELETE", f"/api/gateways/{bad_id}", None, root),
        ]
    for method, path, body, user in cases:
        response = await client.request(method, path, json=body, headers=user.headers)
        assert_error(response, 404), (method, path)
    for bad_event in (HUGE, "abc", "-1", "9" * 19):
        response = await client.post(f"/api/agents/runtime/events/{bad_event}/ack", json={},
                                     headers={"Authorization": f"Bearer {world['runtime']}"})
        assert_error(response, 404, "event_not_found")
    assert await snapshot() == before


#: (path, query parameters, the field the 400 names)
BAD_QUERIES = [
    ("/api/registry/agents", {"limit": "ten"}, "limit"),
    ("/api/registry/agents", {"q": "x" * 201}, "q"),
    ("/api/registry/admin/installations", {"status": "everything"}, "status"),
    ("/api/registry/admin/installations", {"limit": "1.5"}, "limit"),
    ("/api/registry/pods/{pod}/agents/helper", {"instanceId": ""}, "instanceId"),
    ("/api/registry/pods/{pod}/agents/helper", {"instanceId": "i" * 81}, "instanceId"),
    ("/api/skills/catalog", {"limit": "-"}, "limit"),
    ("/api/skills/requirements", {"sourceUrl": ""}, "sourceUrl"),
]


async def test_bad_query_values_are_400(client, world, assert_error):
    for path, params, field in BAD_QUERIES:
        user = world["root"] if "admin" in path else world["alice"]
        response = await client.get(path.format(pod=world["pod"]["id"]), params=params, headers=user.headers)
        body = assert_error(response, 400, "validation_error")
        assert [item["field"] for item in body["details"]] == [field], (path, params)


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=10)
FIELD_NAMES = ["agentName", "podId", "instanceId", "displayName", "version", "config", "scopes", "status", "label",
               "force", "manifest", "categories", "tags", "visibility", "name", "slug", "metadata", "content",
               "scope", "type", "payload"]
bodies = json_values | st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=5)


@given(body=bodies)
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_arbitrary_bodies_never_500(client, world, body):
    routes = route_table(world)
    for route in ("install", "patch", "runtime_token", "bot_token", "publish", "template", "gateway_patch", "skill",
                  "dev_event"):
        method, path, who = routes[route]
        response = await client.request(method, path, json=body, headers=world[who].headers)
        assert response.status_code < 500, (route, body, response.text)
