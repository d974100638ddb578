"""``POST /api/v1/memory/:podId``: targets, default scopes (people → pod, agents → their own)."""

from __future__ import annotations

from commonly_pods.models import PodAsset

TARGETS = {"daily": "daily-log", "memory": "memory", "skill": "skill", "note": "note"}


async def test_people_write_pod_memory(client, make_user, make_pod, join_pod, hooks, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    url = f"/api/v1/memory/{pod['id']}"

    written = {}
    for target, asset_type in TARGETS.items():
        response = await client.post(url, json={"target": target, "content": f"{target} text", "title": target,
                                                "tags": ["t1", target]}, headers=bob.headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["success"] is True and set(body) == {"success", "assetId"}
        written[body["assetId"]] = asset_type
    stored = {str(asset.id): asset for asset in await PodAsset.filter(pod_id=pod["id"])}
    assert {asset_id: asset.type for asset_id, asset in stored.items()} == written
    for asset in stored.values():
        assert (asset.scope, asset.metadata, asset.source_type, asset.created_by_type) == ("pod", {"scope": "pod"},
                                                                                        "memory-api", "human")
        assert asset.tags[0] == "t1" and str(asset.created_by_id) == bob.id
    assert [event[0] for event in hooks.of("asset_saved")] == list(written)
    # readable by the other members through the assets route
    listed = (await client.get(f"/api/pods/{pod['id']}/assets", headers=alice.headers)).json()
    assert {item["id"] for item in listed} == set(written)

    minimal = await client.post(url, json={"target": "note", "content": "x", "scope": "pod"}, headers=alice.headers)
    assert minimal.status_code == 201
    assert (await PodAsset.get(id=minimal.json()["assetId"])).title == ""
    assert_error(await client.post(url, json={"target": "memory", "content": "x", "scope": "agent"},
                                   headers=bob.headers), 400, "invalid_scope")
    for bad in ({"target": "diary", "content": "x"}, {"content": "x"}, {"target": "note"},
                {"target": "note", "content": ""}, {"target": "note", "content": "x", "scope": "team"},
                {"target": "note", "content": "x", "tags": "a,b"}, {"target": "note", "content": "x", "extra": 1}):
        assert_error(await client.post(url, json=bad, headers=bob.headers), 400, "validation_error")
    # writing needs membership, even for a global admin
    assert_error(await client.post(url, json={"target": "note", "content": "x"}, headers=root.headers), 403,
                 "not_a_member")
    assert await PodAsset.filter(pod_id=pod["id"]).count() == 5


async def test_agents_write_their_own_memory_by_default(client, make_user, make_agent, make_pod, seat,
                                                        assert_error):
    alice = await make_user()
    agent = await make_agent(agent_name="scribe", instance_id="i-1",
                             scopes=("memory:write", "memory:read", "context:read"))
    pod = await make_pod(alice)
    await seat(agent, pod)
    url = f"/api/v1/memory/{pod['id']}"

    own = await client.post(url, json={"target": "memory", "content": "the password is in the vault",
                                       "tags": ["vault"]}, headers=agent.headers)
    assert own.status_code == 201
    asset = await PodAsset.get(id=own.json()["assetId"])
    assert (asset.scope, asset.type, asset.created_by_type) == ("agent", "memory", "agent")
    assert asset.metadata == {"scope": "agent", "agentName": "scribe", "instanceId": "i-1"}
    shared = await client.post(url, json={"target": "daily", "content": "shipped v1", "scope": "pod"},
                               headers=agent.headers)
    assert shared.status_code == 201
    assert (await PodAsset.get(id=shared.json()["assetId"])).metadata == {"scope": "pod"}

    # the agent's context includes its own memory; a person's does not
    agent_context = (await client.get(f"/api/pods/{pod['id']}/context", headers=agent.headers)).json()
    person_context = (await client.get(f"/api/pods/{pod['id']}/context", headers=alice.headers)).json()
    assert {item["id"] for item in agent_context["assets"]} == {own.json()["assetId"], shared.json()["assetId"]}
    assert {item["id"] for item in person_context["assets"]} == {shared.json()["assetId"]}
    assert {"tag": "vault", "count": 1} in agent_context["tags"] and person_context["tags"] == []

    body = assert_error(await client.post(url, json={"target": "note", "content": "x"},
                                          headers=agent.with_scopes("memory:read").headers), 403, "missing_scope")
    assert body["details"] == {"missing": ["memory:write"]}
    assert await PodAsset.filter(pod_id=pod["id"]).count() == 2
