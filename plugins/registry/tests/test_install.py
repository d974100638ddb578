"""Installing agents in pods: who may, instance ids, the instance a route means, scopes, the shared
bot identity, changing and uninstalling."""

from __future__ import annotations

import asyncio

import pytest
from commonly_auth.models import User
from commonly_registry.models import AgentIdentity, Installation

INSTALL = "/api/registry/install"


def member_ids(pod):
    return {member["id"] for member in pod["members"]}


async def get_pod(client, user, pod):
    response = await client.get(f"/api/pods/{pod['id']}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_install_answers_the_installation_and_seats_the_bot(client, make_user, make_pod):
    alice = await make_user()
    pod = await make_pod(alice)
    response = await client.post(INSTALL, json={"agentName": "helper", "podId": pod["id"],
                                                "config": {"runtime": {"heartbeat": 60}}}, headers=alice.headers)
    assert response.status_code == 201, response.text
    installation = response.json()["installation"]
    assert installation["_id"] == installation["id"] and isinstance(installation["id"], str)
    expected = {"agentName": "helper", "podId": pod["id"], "instanceId": "default", "displayName": "Helper",
                "version": "1.2.0", "config": {"runtime": {"heartbeat": 60}},
                "scopes": ["context:read", "messages:read", "messages:write"], "status": "active",
                "installedBy": alice.id, "botUsername": "helper", "iconUrl": "https://cdn.example.com/helper.png"}
    assert {key: installation[key] for key in expected} == expected
    assert installation["createdAt"].endswith("Z")
    assert "webhookSecret" not in response.text and "webhook_secret" not in response.text
    seated = await get_pod(client, alice, pod)
    bot = next(member for member in seated["members"] if member["id"] == installation["botUserId"])
    assert (bot["username"], bot["isBot"], bot["role"]) == ("helper", True, "member")

    listed = await client.get(f"/api/registry/pods/{pod['id']}/agents", headers=alice.headers)
    assert listed.json()["agents"] == [installation]
    one = await client.get(f"/api/registry/pods/{pod['id']}/agents/helper", headers=alice.headers)
    assert one.json()["installation"] == installation


async def test_only_members_install(client, make_user, make_pod, join_pod, assert_error):
    alice, bob, root = await make_user(), await make_user(), await make_user(role="admin")
    open_pod = await make_pod(alice)
    private = await make_pod(alice, joinPolicy="invite-only")
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": open_pod["id"]},
                                   headers=bob.headers), 403, "not_a_member")
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": private["id"]},
                                   headers=bob.headers), 404, "pod_not_found")
    # a global admin who is not a member does not install either
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": open_pod["id"]},
                                   headers=root.headers), 403, "not_a_member")
    for pod_id in ("00000000-0000-4000-8000-000000000000", "not-a-pod"):
        assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": pod_id},
                                       headers=alice.headers), 404, "pod_not_found")
    assert_error(await client.post(INSTALL, json={"agentName": "nobody", "podId": open_pod["id"]},
                                   headers=alice.headers), 404, "agent_not_found")
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": open_pod["id"]}), 401)
    # the installed agents of a pod are its content: members only
    assert_error(await client.get(f"/api/registry/pods/{open_pod['id']}/agents", headers=bob.headers), 403)
    assert_error(await client.get(f"/api/registry/pods/{private['id']}/agents", headers=bob.headers), 404)
    assert await Installation.all().count() == 0
    await join_pod(bob, open_pod)  # any member may install
    response = await client.post(INSTALL, json={"agentName": "helper", "podId": open_pod["id"]}, headers=bob.headers)
    assert response.status_code == 201 and response.json()["installation"]["installedBy"] == bob.id


async def test_duplicates_409_and_reinstall_after_uninstall(client, make_user, make_pod, install, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    first = await install(alice, pod)
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": pod["id"]}, headers=alice.headers),
                 409, "already_installed")
    # displayName equal to the agent's name means the default instance too
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": pod["id"], "displayName": "helper"},
                                   headers=alice.headers), 409, "already_installed")
    paused = await client.patch(f"/api/registry/pods/{pod['id']}/agents/helper", json={"status": "paused"},
                                headers=alice.headers)
    assert paused.json()["installation"]["status"] == "paused"
    assert_error(await client.post(INSTALL, json={"agentName": "helper", "podId": pod["id"]}, headers=alice.headers),
                 409, "already_installed")
    removed = await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=alice.headers)
    assert removed.status_code == 200
    assert first["botUserId"] not in member_ids(await get_pod(client, alice, pod))
    again = await install(alice, pod, instanceId="default", displayName="Helper again", scopes=["messages:write"],
                          version="0.9.0", config={"runtime": {"heartbeat": 5}})
    assert (again["id"], again["status"], again["displayName"], again["scopes"], again["version"]) == (
        first["id"], "active", "Helper again", ["messages:write"], "0.9.0")
    assert again["config"] == {"runtime": {"heartbeat": 5}}
    assert again["botUserId"] == first["botUserId"]
    assert first["botUserId"] in member_ids(await get_pod(client, alice, pod))
    assert await Installation.all().count() == 1


#: (install fields, instanceId, displayName, bot username)
INSTANCE_IDS = [
    ({}, "default", "Helper", "helper"),
    ({"displayName": "Helper Bot 2"}, "helper-bot-2", "Helper Bot 2", "helper-helper-bot-2"),
    ({"displayName": "helper"}, "default", "helper", "helper"),  # the original CLI's install
    ({"displayName": "  HELPER!! "}, "default", "  HELPER!! ", "helper"),
    ({"displayName": "***"}, "default", "***", "helper"),
    ({"displayName": "Night -- Shift__Crew"}, "night-shift-crew", "Night -- Shift__Crew", "helper-night-shift-crew"),
    ({"displayName": "Z" * 200}, "z" * 80, "Z" * 200, "helper-" + "z" * 43),  # at most 80 characters
    ({"displayName": "a" * 79 + " b"}, "a" * 79, "a" * 79 + " b", "helper-" + "a" * 43),
    ({"instanceId": "night"}, "night", "Helper", "helper-night"),
    ({"instanceId": "helper"}, "default", "Helper", "helper"),
    ({"instanceId": "night", "displayName": "Helper Bot 2"}, "night", "Helper Bot 2", "helper-night"),
]


async def test_instance_ids(client, make_user, make_pod, install):
    alice = await make_user()
    for fields, instance, display, username in INSTANCE_IDS:
        pod = await make_pod(alice)
        installation = await install(alice, pod, **fields)
        assert (installation["instanceId"], installation["displayName"], installation["botUsername"]) == (
            instance, display, username), fields


async def test_several_instances_in_one_pod(client, make_user, make_pod, install):
    alice = await make_user()
    pod = await make_pod(alice)
    default = await install(alice, pod)
    second = await install(alice, pod, displayName="Helper Bot 2")
    night = await install(alice, pod, instanceId="night")
    other = await install(alice, pod, "archivist", scopes=["memory:write"])
    listed = (await client.get(f"/api/registry/pods/{pod['id']}/agents", headers=alice.headers)).json()["agents"]
    assert [(item["agentName"], item["instanceId"]) for item in listed] == [
        ("helper", "default"), ("helper", "helper-bot-2"), ("helper", "night"), ("archivist", "default")]
    bots = {item["botUserId"] for item in (default, second, night, other)}
    assert len(bots) == 4 and bots <= member_ids(await get_pod(client, alice, pod))
    assert await AgentIdentity.all().count() == 4


async def test_concurrent_installs_of_one_instance(client, make_user, make_pod, assert_error):
    """Racing installs: one 201 and 409s in one pod; one shared bot user across pods (never a 500)."""
    alice = await make_user()
    pod = await make_pod(alice)
    body = {"agentName": "helper", "podId": pod["id"], "instanceId": "racer"}
    responses = await asyncio.gather(*(client.post(INSTALL, json=body, headers=alice.headers) for _ in range(5)))
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "already_installed")
    pods = [await make_pod(alice, name=f"Pod {n}") for n in range(4)]
    responses = await asyncio.gather(*(client.post(INSTALL, json={**body, "instanceId": "spread", "podId": each["id"]},
                                                   headers=alice.headers) for each in pods))
    assert [response.status_code for response in responses] == [201] * 4, [r.text for r in responses]
    assert len({response.json()["installation"]["botUserId"] for response in responses}) == 1
    assert await AgentIdentity.all().count() == 2
    assert await User.filter(is_bot=True).count() == 2  # no spare bot users
    assert await Installation.all().count() == 5


async def test_scoped_agent_names_work_in_every_route(client, make_user, make_pod, install):
    """``@scope/name`` agents: the slash is part of the name in the paths too."""
    alice = await make_user()
    pod = await make_pod(alice)
    installation = await install(alice, pod, "@acme/ops-bot")
    assert (installation["agentName"], installation["botUsername"]) == ("@acme/ops-bot", "acme-ops-bot")
    base = f"/api/registry/pods/{pod['id']}/agents/@acme/ops-bot"
    assert (await client.get(base, headers=alice.headers)).json()["installation"]["id"] == installation["id"]
    patched = await client.patch(base, json={"displayName": "Pager"}, headers=alice.headers)
    assert patched.json()["installation"]["displayName"] == "Pager"
    issued = await client.post(f"{base}/runtime-tokens", json={}, headers=alice.headers)
    assert issued.status_code == 201
    listed = (await client.get(f"{base}/runtime-tokens", headers=alice.headers)).json()["tokens"]
    assert [token["id"] for token in listed] == [issued.json()["id"]]
    assert (await client.post(f"{base}/user-token", json={}, headers=alice.headers)).status_code == 201
    assert (await client.get(f"{base}/user-token", headers=alice.headers)).json()["hasToken"] is True
    assert (await client.delete(f"{base}/user-token", headers=alice.headers)).status_code == 200
    revoked = await client.delete(f"{base}/runtime-tokens/{issued.json()['id']}", headers=alice.headers)
    assert revoked.status_code == 200
    removed = await client.delete(f"/api/registry/agents/@acme/ops-bot/pods/{pod['id']}", headers=alice.headers)
    assert removed.status_code == 200 and removed.json()["installation"]["status"] == "uninstalled"


# -- which instance a route means --------------------------------------------------------------------

#: (installed instances, the instanceId asked for (None: omitted), expected instance or error)
RESOLUTION = [
    (["default"], None, "default"),
    (["default"], "default", "default"),
    (["default"], "helper", "default"),  # the agent's name means default
    (["default"], "night", (404, "installation_not_found")),
    (["night"], None, "night"),  # the only installation
    (["night"], "night", "night"),
    (["night"], "default", (404, "installation_not_found")),
    (["night"], "helper", (404, "installation_not_found")),
    (["night"], "NIGHT", (404, "installation_not_found")),  # exact match only
    (["night"], "nigh", (404, "installation_not_found")),
    (["default", "night"], None, "default"),
    (["default", "night"], "night", "night"),
    (["day", "night"], None, (400, "instance_required")),
    (["day", "night"], "day", "day"),
    ([], None, (404, "installation_not_found")),
]


async def prepare(client, user, make_pod, install, instances, name="Pod"):
    pod = await make_pod(user, name=name)
    for instance in instances:
        await install(user, pod, instanceId=instance)
    return pod


async def call(client, user, method, pod, instance):
    base = f"/api/registry/pods/{pod['id']}/agents/helper"
    query = {"instanceId": instance} if instance is not None else {}
    if method == "GET":
        return await client.get(base, params=query, headers=user.headers)
    if method == "PATCH":
        return await client.patch(base, json={**query, "displayName": "Renamed"}, headers=user.headers)
    if method == "DELETE":
        return await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", params=query,
                                   headers=user.headers)
    return await client.get(f"{base}/runtime-tokens", params=query, headers=user.headers)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "TOKENS"])
async def test_instance_resolution(client, make_user, make_pod, install, assert_error, method):
    alice = await make_user()
    for instances, asked, expected in RESOLUTION:
        pod = await prepare(client, alice, make_pod, install, instances)
        response = await call(client, alice, method, pod, asked)
        if isinstance(expected, tuple):
            assert_error(response, *expected)
            assert not await Installation.filter(pod_id=pod["id"], display_name="Renamed").exists()
            assert await Installation.filter(pod_id=pod["id"], status="active").count() == len(instances)
            continue
        assert response.status_code == 200, (instances, asked, response.text)
        changed = await Installation.get(pod_id=pod["id"], instance_id=expected)
        if method in ("GET", "PATCH", "DELETE"):
            assert response.json()["installation"]["instanceId"] == expected, (instances, asked)
        if method == "PATCH":
            assert changed.display_name == "Renamed"
        if method == "DELETE":
            assert changed.status == "uninstalled"
            assert await Installation.filter(pod_id=pod["id"], status="active").count() == len(instances) - 1


async def test_uninstalled_instances_do_not_count_and_paused_ones_do(client, make_user, make_pod, install,
                                                                     assert_error):
    alice = await make_user()
    pod = await prepare(client, alice, make_pod, install, ["day", "night"])
    base = f"/api/registry/pods/{pod['id']}/agents/helper"
    assert (await client.patch(base, json={"instanceId": "day", "status": "paused"},
                               headers=alice.headers)).status_code == 200
    assert_error(await client.get(base, headers=alice.headers), 400, "instance_required")
    removed = await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", params={"instanceId": "day"},
                                  headers=alice.headers)
    assert removed.json()["installation"]["status"] == "uninstalled"
    assert (await client.get(base, headers=alice.headers)).json()["installation"]["instanceId"] == "night"
    assert_error(await client.get(base, params={"instanceId": "day"}, headers=alice.headers), 404,
                 "installation_not_found")


# -- scopes ----------------------------------------------------------------------------------------


#: (``scopes`` given (None: left out), the installation's scopes)
SCOPES = [
    (None, ["context:read", "messages:read", "messages:write"]),
    ([], []),
    (["agent:messages:write", "integrations:read"], ["integration:read", "messages:write"]),
    (["Agent:Context:Read", " memory:read ", "memory:read", "agent:events:read", "agent:events:ack"],
     ["context:read", "memory:read"]),
    (["integration:write", "posts:read", "posts:write", "summaries:read", "memory:write"],
     ["integration:write", "memory:write", "posts:read", "posts:write", "summaries:read"]),
]


async def test_install_scopes_are_normalised(client, make_user, make_pod, install):
    alice = await make_user()
    for scopes, stored in SCOPES:
        pod = await make_pod(alice)
        installation = await install(alice, pod, **({} if scopes is None else {"scopes": scopes}))
        assert installation["scopes"] == stored, scopes
        assert (await Installation.get(id=installation["id"])).scopes == stored


#: (``scopes`` given, the ones refused)
UNKNOWN_SCOPES = [
    (["messages:delete"], ["messages:delete"]),
    (["messages:write", "admin", "agent:pods:join"], ["admin", "agent:pods:join"]),
    ([""], [""]),
]


async def test_unknown_scopes_are_400_with_details(client, make_user, make_pod, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    for scopes, unknown in UNKNOWN_SCOPES:
        response = await client.post(INSTALL, json={"agentName": "helper", "podId": pod["id"], "scopes": scopes},
                                     headers=alice.headers)
        details = assert_error(response, 400, "validation_error")["details"]
        assert [(item["field"], item["type"]) for item in details] == [("scopes", "unknown_scope")] * len(unknown)
        assert all(repr(scope) in item["message"] for scope, item in zip(unknown, details, strict=True))
    assert await Installation.all().count() == 0 and await AgentIdentity.all().count() == 0


#: (agent, ``scopes`` given (None: left out), ``missingScopes``)
MISSING_SCOPES = [
    ("summarizer", None, ["summaries:read"]),
    ("summarizer", [], ["messages:write", "summaries:read"]),
    ("summarizer", ["summaries:read"], ["messages:write"]),
    ("archivist", None, ["memory:write"]),
    ("archivist", ["memory:read"], ["memory:write"]),
]


async def test_missing_required_scopes_are_400(client, make_user, make_pod, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    for agent, scopes, missing in MISSING_SCOPES:
        body = {"agentName": agent, "podId": pod["id"], **({} if scopes is None else {"scopes": scopes})}
        details = assert_error(await client.post(INSTALL, json=body, headers=alice.headers), 400, "missing_scopes")
        assert details["details"] == {"missingScopes": missing}, (agent, scopes)
    assert await Installation.all().count() == 0


#: (agent, ``scopes`` that cover what it requires)
GRANTED = [
    ("summarizer", ["agent:messages:write", "summaries:read"]),
    ("summarizer", ["messages:write", "summaries:read", "memory:read"]),
    ("archivist", ["memory:write"]),
]


async def test_required_scopes_granted(client, make_user, make_pod, install):
    alice = await make_user()
    for agent, scopes in GRANTED:
        pod = await make_pod(alice)
        assert (await install(alice, pod, agent, scopes=scopes))["status"] == "active"


async def test_implied_scopes_satisfy_requirements(client, make_user, make_pod, install, assert_error):
    alice = await make_user()
    published = await client.post("/api/registry/publish", json={"manifest": {
        "name": "reader", "version": "1.0.0", "requiredScopes": ["context:read", "agent:messages:read"]}},
        headers=alice.headers)
    assert published.status_code == 200
    pod = await make_pod(alice)
    assert (await install(alice, pod, "reader", scopes=[]))["scopes"] == []
    await client.post("/api/registry/publish", json={"manifest": {
        "name": "poster", "version": "1.0.0", "requiredScopes": ["context:read", "posts:write"]}},
        headers=alice.headers)
    body = assert_error(await client.post(INSTALL, json={"agentName": "poster", "podId": pod["id"], "scopes": []},
                                          headers=alice.headers), 400, "missing_scopes")
    assert body["details"]["missingScopes"] == ["posts:write"]


# -- the bot identity --------------------------------------------------------------------------------


async def test_one_bot_user_per_instance_across_pods(client, make_user, make_pod, install):
    alice = await make_user()
    first, second = await make_pod(alice, name="First"), await make_pod(alice, name="Second")
    in_first = await install(alice, first)
    in_second = await install(alice, second, displayName="Helper")
    night = await install(alice, second, instanceId="night")
    assert in_first["botUserId"] == in_second["botUserId"] != night["botUserId"]
    assert in_first["id"] != in_second["id"]
    assert await AgentIdentity.filter(agent_name="helper").count() == 2
    bot = in_first["botUserId"]
    assert bot in member_ids(await get_pod(client, alice, first))
    assert {bot, night["botUserId"]} <= member_ids(await get_pod(client, alice, second))
    # uninstalling from one pod takes the bot out of that pod only
    removed = await client.delete(f"/api/registry/agents/helper/pods/{first['id']}", headers=alice.headers)
    assert removed.status_code == 200
    assert bot not in member_ids(await get_pod(client, alice, first))
    assert bot in member_ids(await get_pod(client, alice, second))
    profile = await client.get(f"/api/pods/{second['id']}", headers=alice.headers)
    assert next(member for member in profile.json()["members"] if member["id"] == bot)["isBot"] is True


async def test_a_taken_username_gives_the_bot_another(client, make_user, make_pod, install):
    alice = await make_user()
    await make_user(username="Helper")
    pod = await make_pod(alice)
    installation = await install(alice, pod)
    assert installation["botUsername"] == "helper-bot"


# -- changing and uninstalling -----------------------------------------------------------------------


async def test_who_may_change_an_installation(client, make_user, make_pod, join_pod, install, assert_error):
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    root, stranger = await make_user(role="admin"), await make_user()
    pod = await make_pod(alice)
    for user in (bob, carol):
        await join_pod(user, pod)
    installation = await install(bob, pod)
    url = f"/api/registry/pods/{pod['id']}/agents/helper"

    async def patch(user, body):
        return await client.patch(url, json=body, headers=user.headers)

    response = await patch(bob, {"displayName": "Bob's helper", "config": {"runtime": {"webhookUrl": ""}}})
    assert response.status_code == 200, response.text
    changed = response.json()["installation"]
    assert (changed["displayName"], changed["config"], changed["instanceId"]) == (
        "Bob's helper", {"runtime": {"webhookUrl": ""}}, "default")
    response = await patch(alice, {"scopes": ["agent:messages:write", "memory:read"], "status": "paused"})
    assert (response.json()["installation"]["scopes"], response.json()["installation"]["status"]) == (
        ["memory:read", "messages:write"], "paused")
    response = await patch(root, {"status": "active"})
    assert response.json()["installation"]["status"] == "active"
    assert response.json()["installation"]["displayName"] == "Bob's helper"  # what a patch leaves out stays
    before = await Installation.get(id=installation["id"])
    assert_error(await patch(carol, {"displayName": "Carol's now"}), 403, "not_allowed")
    assert_error(await patch(stranger, {"displayName": "mine"}), 403, "not_a_member")
    assert_error(await patch(alice, {"status": "uninstalled"}), 400, "validation_error")
    assert_error(await patch(alice, {"scopes": ["root"]}), 400, "validation_error")
    after = await Installation.get(id=installation["id"])
    assert (after.display_name, after.status, after.scopes) == (before.display_name, before.status, before.scopes)


async def test_who_may_uninstall(client, make_user, make_pod, join_pod, install, assert_error):
    alice, bob, carol, root = await make_user(), await make_user(), await make_user(), await make_user(role="admin")
    pod = await make_pod(alice)
    for user in (bob, carol):
        await join_pod(user, pod)
    for instance in ("one", "two", "three"):
        await install(bob, pod, instanceId=instance)

    async def uninstall(user, instance):
        return await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", params={"instanceId": instance},
                                   headers=user.headers)

    assert_error(await uninstall(carol, "one"), 403, "not_allowed")
    assert await Installation.filter(status="active").count() == 3
    for user, instance in ((bob, "one"), (alice, "two"), (root, "three")):  # installer, pod admin, global admin
        response = await uninstall(user, instance)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True and body["message"]
        assert (body["installation"]["instanceId"], body["installation"]["status"]) == (instance, "uninstalled")
    assert_error(await uninstall(alice, "one"), 404, "installation_not_found")  # twice
    assert (await client.get(f"/api/registry/pods/{pod['id']}/agents", headers=alice.headers)).json() == {
        "agents": []}
    members = await get_pod(client, alice, pod)
    assert not [member for member in members["members"] if member["isBot"]]


async def test_uninstall_of_a_private_pod_is_404_to_outsiders(client, make_user, make_pod, install, assert_error):
    alice, mallory = await make_user(), await make_user()
    pod = await make_pod(alice, joinPolicy="invite-only")
    await install(alice, pod)
    assert_error(await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=mallory.headers),
                 404, "pod_not_found")
    assert_error(await client.get(f"/api/registry/pods/{pod['id']}/agents/helper", headers=mallory.headers),
                 404, "pod_not_found")
    assert_error(await client.patch(f"/api/registry/pods/{pod['id']}/agents/helper", json={"displayName": "x"},
                                    headers=mallory.headers), 404, "pod_not_found")
    assert await Installation.filter(status="active").count() == 1
