"""Who may call what: every pods route for callers without a token, outsiders of open and private
pods, global admins (who reach everything but DM pods), and agents not installed in a pod."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from commonly_pods import create_pod
from commonly_pods.models import Message, Pod, PodAsset, PodMember

#: (name, method, path, body); ``{pod}``, ``{message}``, ``{asset}``, ``{member}`` are filled in.
#: Writes that change membership or delete the pod come last.
ROUTES = [
    ("get pod", "GET", "/api/pods/{pod}", None),
    ("update pod", "PUT", "/api/pods/{pod}", {"name": "renamed"}),
    ("list messages", "GET", "/api/pods/{pod}/messages", None),
    ("list messages (alias)", "GET", "/api/messages/{pod}", None),
    ("post message", "POST", "/api/pods/{pod}/messages", {"content": "hi"}),
    ("post message (alias)", "POST", "/api/messages/{pod}", {"text": "hi"}),
    ("context", "GET", "/api/pods/{pod}/context", None),
    ("search", "GET", "/api/pods/{pod}/context/search?query=secret", None),
    ("excerpt", "GET", "/api/pods/{pod}/context/assets/{asset}", None),
    ("write memory", "POST", "/api/v1/memory/{pod}", {"target": "note", "content": "x"}),
    ("list assets", "GET", "/api/pods/{pod}/assets", None),
    ("create asset", "POST", "/api/pods/{pod}/assets", {"title": "x"}),
    ("get asset", "GET", "/api/pods/{pod}/assets/{asset}", None),
    ("update asset", "PATCH", "/api/pods/{pod}/assets/{asset}", {"title": "changed"}),
    ("delete asset", "DELETE", "/api/pods/{pod}/assets/{asset}", None),
    ("delete message", "DELETE", "/api/pods/{pod}/messages/{message}", None),
    ("leave", "POST", "/api/pods/{pod}/leave", None),
    ("remove member", "DELETE", "/api/pods/{pod}/members/{member}", None),
    ("join", "POST", "/api/pods/{pod}/join", None),
    ("delete pod", "DELETE", "/api/pods/{pod}", None),
]
CONTENT = {"list messages", "list messages (alias)", "post message", "post message (alias)", "context", "search",
           "excerpt", "write memory", "list assets", "create asset", "get asset", "update asset", "delete asset",
           "delete message"}
WRITES_NEED_MEMBERSHIP = {"post message", "post message (alias)", "write memory", "create asset"}


@dataclass
class World:
    root: Any
    alice: Any
    bob: Any
    carol: Any
    bot: Any
    agent: Any
    pods: dict[str, dict[str, str]]  # kind → {pod, message, asset, member}


@pytest.fixture
async def world(client, live_server, make_user, make_agent, make_pod, join_pod, post_message, make_asset) -> World:
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    carol = await make_user()
    bot = await make_user(is_bot=True)
    agent = await make_agent()
    open_pod = await make_pod(alice, name="open")
    secret = await make_pod(alice, name="secret", joinPolicy="invite-only")
    dm = await create_pod(live_server.app.kernel, alice.id, name="dm", pod_type="agent-admin",
                          join_policy="invite-only", members=[bot.id])
    await join_pod(carol, open_pod)
    pods = {}
    for kind, pod, member in (("open", open_pod, carol.id), ("secret", secret, alice.id),
                              ("dm", {"id": str(dm.id)}, bot.id)):
        message = await post_message(alice, pod, "a secret plan")
        asset = await make_asset(alice, pod, title="secret notes", content="the secret plan")
        pods[kind] = {"pod": pod["id"], "message": str(message["id"]), "asset": asset["id"], "member": member}
    return World(root, alice, bob, carol, bot, agent, pods)


async def snapshot() -> tuple[int, ...]:
    return (await Pod.all().count(), await PodMember.all().count(), await Message.all().count(),
            await PodAsset.all().count())


async def call(client, route: tuple, ids: dict[str, str], headers: dict[str, str]):
    _, method, path, body = route
    return await client.request(method, path.format(**ids), json=body, headers=headers)


async def check_matrix(client, assert_error, ids: dict[str, str], headers: dict[str, str],
                       expected: dict[str, int | tuple[int, str]]) -> None:
    for route in ROUTES:
        name = route[0]
        status, code = expected[name] if isinstance(expected[name], tuple) else (expected[name], None)
        response = await call(client, route, ids, headers)
        assert response.status_code == status, (name, response.status_code, response.text)
        if status >= 400:
            assert_error(response, status, code)


BAD_HEADERS = [
    {}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
    {"x-auth-token": "garbage"}, {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"},
]


async def test_no_valid_token_is_401_everywhere(client, world, assert_error):
    before = await snapshot()
    for headers in BAD_HEADERS:
        for kind in ("open", "secret", "dm"):
            await check_matrix(client, assert_error, world.pods[kind], headers, dict.fromkeys(
                (route[0] for route in ROUTES), 401))
        for method, path in (("GET", "/api/pods"), ("POST", "/api/pods")):
            response = await client.request(method, path, json={"name": "x"} if method == "POST" else None,
                                            headers=headers)
            assert_error(response, 401)
    assert await snapshot() == before
    # the same token is accepted in any of the headers the clients use
    ids = world.pods["open"]
    for headers in (world.alice.headers, {"x-auth-token": world.alice.token},
                    {"x-commonly-agent-token": world.alice.token}):
        assert (await client.get(f"/api/pods/{ids['pod']}/messages", headers=headers)).status_code == 200


async def test_outsider_of_an_open_pod(client, world, assert_error):
    before = await snapshot()
    expected: dict[str, int | tuple[int, str]] = {name: (403, "not_a_member") for name in CONTENT}
    expected.update({"get pod": 200, "update pod": (403, "not_a_member"), "leave": (400, "not_a_member"),
                     "remove member": (403, "not_a_member"), "join": 200,
                     "delete pod": (403, "pod_admin_required")})  # asked after joining
    # "join" ran: bob is a member now, and sees the content; nothing else changed
    await check_matrix(client, assert_error, world.pods["open"], world.bob.headers, expected)
    assert await snapshot() == (before[0], before[1] + 1, *before[2:])
    response = await client.get(f"/api/pods/{world.pods['open']['pod']}/messages", headers=world.bob.headers)
    assert [message["content"] for message in response.json()] == ["a secret plan"]
    # a member who is not the admin: content yes, administration no
    member_expected: dict[str, int | tuple[int, str]] = {
        **dict.fromkeys(CONTENT, 200), "post message": 201, "post message (alias)": 201, "write memory": 201,
        "create asset": 201, "update asset": (403, "not_allowed"), "delete asset": (403, "not_allowed"),
        "delete message": (403, "not_allowed"), "get pod": 200, "update pod": (403, "pod_admin_required"),
        "leave": 200, "remove member": (403, "not_a_member"), "join": 200,
        "delete pod": (403, "pod_admin_required"),
    }
    await check_matrix(client, assert_error, world.pods["open"], world.bob.headers, member_expected)


async def test_outsider_of_a_private_pod_gets_404_everywhere(client, world, assert_error):
    before = await snapshot()
    for kind, outsider in itertools.product(("secret", "dm"), (world.bob, world.carol, world.agent)):
        await check_matrix(client, assert_error, world.pods[kind], outsider.headers,
                           dict.fromkeys((route[0] for route in ROUTES), (404, "pod_not_found")))
    assert await snapshot() == before
    listed = await client.get("/api/pods", params={"scope": "discover"}, headers=world.bob.headers)
    assert [pod["name"] for pod in listed.json()] == ["open"]


async def test_global_admin_reaches_every_pod_but_dm_pods(client, world, assert_error):
    before = await snapshot()
    # a DM pod: hidden, on every route
    await check_matrix(client, assert_error, world.pods["dm"], world.root.headers,
                       dict.fromkeys((route[0] for route in ROUTES), (404, "pod_not_found")))
    assert await snapshot() == before
    # an invite-only pod: reads and administers it, but posts nothing there without being a member
    expected: dict[str, int | tuple[int, str]] = {
        **dict.fromkeys(CONTENT, 200), **dict.fromkeys(WRITES_NEED_MEMBERSHIP, (403, "not_a_member")),
        "get pod": 200, "update pod": 200, "leave": (400, "not_a_member"),
        "remove member": (400, "creator_cannot_be_removed"),
        "join": (403, "join_refused"), "delete pod": 200,
    }
    await check_matrix(client, assert_error, world.pods["secret"], world.root.headers, expected)
    secret = world.pods["secret"]
    assert not await Pod.filter(id=secret["pod"]).exists()
    assert await Message.filter(pod_id=secret["pod"]).count() == 0
    assert await snapshot() == (before[0] - 1, before[1] - 1, before[2] - 1, before[3] - 1)


async def test_agents_see_only_pods_they_are_in(client, world, seat, assert_error):
    open_ids = world.pods["open"]
    expected: dict[str, int | tuple[int, str]] = {name: (403, "not_a_member") for name in CONTENT}
    expected.update({"get pod": 200, "update pod": (403, "not_a_member"), "delete pod": (403, "not_a_member"),
                     "leave": (400, "not_a_member"), "remove member": (403, "not_a_member"),
                     "join": (403, "join_refused")})
    before = await snapshot()
    await check_matrix(client, assert_error, open_ids, world.agent.headers, expected)
    assert await snapshot() == before
    await seat(world.agent, {"id": open_ids["pod"]})
    response = await client.get(f"/api/pods/{open_ids['pod']}/context", headers=world.agent.headers)
    assert response.status_code == 200
    assert (await client.post(f"/api/pods/{open_ids['pod']}/join", headers=world.agent.headers)).status_code == 200
