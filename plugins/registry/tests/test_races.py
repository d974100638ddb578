"""Concurrent requests against one server: what holds whatever order they run in (never a 500,
no lost write, no orphan row). Each test repeats its race a few rounds to make the bad
interleavings likely; with the fixes every round's invariant holds deterministically."""

from __future__ import annotations

import asyncio

from commonly_pods.models import Pod, PodMember
from commonly_registry import service
from commonly_registry.models import DirectPod, Gateway, Installation, PublishedAgent, Template

INSTALL = "/api/registry/install"
ROUNDS = 6


def statuses(responses):
    return sorted(response.status_code for response in responses)


async def bot_is_member(pod_id, bot_user_id):
    return await PodMember.filter(pod_id=pod_id, user_id=bot_user_id).exists()


async def test_patch_never_revives_an_uninstalled_installation(client, make_user, make_pod, install):
    """PATCH racing DELETE: the installation ends uninstalled (a PATCH after it is a 404)."""
    alice = await make_user()
    pod = await make_pod(alice)
    path = f"/api/registry/pods/{pod['id']}/agents/helper"
    for round_ in range(ROUNDS):
        installed = await install(alice, pod)
        patch = client.patch(path, json={"status": "paused", "displayName": f"Round {round_}"}, headers=alice.headers)
        delete = client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=alice.headers)
        patched, deleted = await asyncio.gather(patch, delete)
        assert deleted.status_code == 200, deleted.text
        assert patched.status_code in (200, 404), patched.text
        row = await Installation.get(id=installed["id"])
        assert row.status == "uninstalled", (round_, patched.status_code)
        assert not await bot_is_member(pod["id"], installed["botUserId"])


async def test_concurrent_patches_keep_each_others_fields(client, make_user, make_pod, install):
    alice = await make_user()
    pod = await make_pod(alice)
    await install(alice, pod)
    path = f"/api/registry/pods/{pod['id']}/agents/helper"
    for round_ in range(ROUNDS):
        bodies = [{"displayName": f"Name {round_}"}, {"config": {"round": round_}}, {"scopes": ["messages:read"]}]
        responses = await asyncio.gather(*(client.patch(path, json=body, headers=alice.headers) for body in bodies))
        assert statuses(responses) == [200, 200, 200], [response.text for response in responses]
        final = (await client.get(path, headers=alice.headers)).json()["installation"]
        assert (final["displayName"], final["config"], final["scopes"], final["status"]) == (
            f"Name {round_}", {"round": round_}, ["messages:read"], "active")
        await client.patch(path, json={"scopes": ["messages:write"]}, headers=alice.headers)


async def test_uninstall_racing_a_reinstall_leaves_the_bot_seated_iff_installed(client, make_user, make_pod,
                                                                                install):
    """The bot user is a member of the pod exactly when the installation is active."""
    alice = await make_user()
    pod = await make_pod(alice)
    installed = await install(alice, pod)
    body = {"agentName": "helper", "podId": pod["id"]}
    for round_ in range(ROUNDS):
        if (await Installation.get(id=installed["id"])).status != "active":
            await install(alice, pod)
        deleted, reinstalled = await asyncio.gather(
            client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=alice.headers),
            client.post(INSTALL, json=body, headers=alice.headers))
        assert deleted.status_code == 200, deleted.text
        assert reinstalled.status_code in (201, 409), reinstalled.text
        row = await Installation.get(id=installed["id"])
        assert row.status == ("active" if reinstalled.status_code == 201 else "uninstalled")
        assert await bot_is_member(pod["id"], installed["botUserId"]) is (row.status == "active"), round_


async def test_uninstall_and_reinstall_racing_the_pod_deletion(client, make_user, make_pod, install):
    """Both take the pod's lock before the installation's, as the deletion does: they wait for each
    other (no deadlock, no 500); whatever the order, nothing of the pod is left."""
    alice = await make_user()
    body = {"agentName": "helper"}
    for _ in range(ROUNDS):
        pod = await make_pod(alice)
        installed = await install(alice, pod)
        await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=alice.headers)
        await install(alice, pod)  # reinstalls the same row: the path that locks it FOR UPDATE
        responses = await asyncio.gather(
            client.delete(f"/api/pods/{pod['id']}", headers=alice.headers),
            client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=alice.headers),
            client.post(INSTALL, json={**body, "podId": pod["id"]}, headers=alice.headers))
        assert all(response.status_code < 500 for response in responses), [response.text for response in responses]
        assert responses[0].status_code == 200, responses[0].text
        assert not await Pod.exists(id=pod["id"])
        assert not await Installation.exists(id=installed["id"])
        assert not await bot_is_member(pod["id"], installed["botUserId"])


async def test_concurrent_dm_opens_make_one_pod(client, make_user, make_pod, install):
    """Racing opens of one DM: one 201, the rest 200 with the same pod; no orphan agent-admin pod."""
    alice = await make_user()
    pod = await make_pod(alice)
    for instance in [f"dm-{n}" for n in range(ROUNDS)]:
        await install(alice, pod, instanceId=instance)
        body = {"agentName": "helper", "instanceId": instance}
        responses = await asyncio.gather(*(client.post("/api/agents/runtime/dm", json=body, headers=alice.headers)
                                           for _ in range(4)))
        assert statuses(responses) == [200, 200, 200, 201], [response.text for response in responses]
        assert len({response.json()["dmPod"]["id"] for response in responses}) == 1
    assert await DirectPod.all().count() == ROUNDS
    assert await Pod.filter(type="agent-admin").count() == ROUNDS


async def test_concurrent_publishes_keep_every_version(client, make_user):
    alice = await make_user()
    for round_ in range(ROUNDS):
        name = f"racer-{round_}"  # first publishes race too
        versions = [f"1.{n}.0" for n in range(4)]
        responses = await asyncio.gather(*(
            client.post("/api/registry/publish", json={"manifest": {"name": name, "version": version}},
                        headers=alice.headers) for version in versions))
        assert statuses(responses) == [200] * 4, [response.text for response in responses]
        published = await PublishedAgent.get(name=name)
        assert sorted(published.versions) == versions
        assert published.version in versions


async def test_publish_racing_another_owner_or_a_template(client, make_user, assert_error):
    """A name goes to one owner, in one table: the loser gets 403 (owned) or 409 (a template)."""
    alice, bob = await make_user(), await make_user()
    for round_ in range(ROUNDS):
        name = f"contested-{round_}"
        manifest = {"name": name, "version": "1.0.0"}
        responses = await asyncio.gather(
            client.post("/api/registry/publish", json={"manifest": manifest}, headers=alice.headers),
            client.post("/api/registry/publish", json={"manifest": manifest}, headers=bob.headers),
            client.post("/api/registry/templates", json={"agentName": name, "displayName": name},
                        headers=bob.headers))
        assert statuses(responses) in ([200, 403, 409], [201, 409, 409]), [response.text for response in responses]
        for response in responses:
            if response.status_code >= 400:
                assert_error(response, response.status_code, "not_owner" if response.status_code == 403
                             else "name_taken")
        owners = await PublishedAgent.filter(name=name).count() + await Template.filter(agent_name=name).count()
        assert owners == 1


async def test_concurrent_gateway_creates_conflict_cleanly(client, make_user, assert_error):
    root = await make_user(role="admin")
    for round_ in range(ROUNDS):
        responses = await asyncio.gather(*(client.post("/api/gateways", json={"name": f"Edge {round_}"},
                                                       headers=root.headers) for _ in range(4)))
        assert statuses(responses) == [201, 409, 409, 409], [response.text for response in responses]
        for response in responses:
            if response.status_code == 409:
                assert_error(response, 409, "gateway_exists")
    assert await Gateway.all().count() == ROUNDS + 1


async def test_processes_starting_together_make_one_default_gateway(live_server):
    """``ensure_default_gateway`` runs in every worker at startup: racing ones all succeed."""
    for _ in range(ROUNDS):
        await Gateway.filter(slug=service.DEFAULT_GATEWAY).delete()
        await asyncio.gather(*(service.ensure_default_gateway() for _ in range(4)))
        assert await Gateway.filter(slug=service.DEFAULT_GATEWAY).count() == 1
