"""Pod memory assets: create, list, read, update, archive, delete; who may change them; agent-scoped
assets that only their agent instance sees; the asset hooks."""

from __future__ import annotations

from commonly_pods.models import PodAsset


async def test_asset_crud_rules_and_hooks(client, make_user, make_pod, join_pod, hooks, assert_error):
    root = await make_user(role="admin")
    alice = await make_user()
    bob = await make_user()
    carol = await make_user()
    pod = await make_pod(alice)
    other = await make_pod(alice, name="other")
    for user in (bob, carol):
        await join_pod(user, pod)
    assets = f"/api/pods/{pod['id']}/assets"

    fields = {"type": "doc", "title": "Runbook", "content": "step one\nstep two", "tags": ["ops", "deploy"],
              "sourceType": "upload", "sourceRef": "runbook.md", "metadata": {"origin": "wiki"}}
    response = await client.post(assets, json=fields, headers=bob.headers)
    assert response.status_code == 201
    doc = response.json()
    assert {key: doc[key] for key in fields if key != "metadata"} == {k: v for k, v in fields.items()
                                                                      if k != "metadata"}
    assert doc["metadata"] == {"origin": "wiki", "scope": "pod"}
    assert doc["_id"] == doc["id"] and isinstance(doc["id"], str) and doc["podId"] == pod["id"]
    assert (doc["status"], doc["createdByType"], doc["createdBy"]) == ("active", "human", bob.id)
    assert_error(await client.post(assets, json={}, headers=carol.headers), 400, "validation_error")
    note = (await client.post(assets, json={"content": "remember"}, headers=carol.headers)).json()
    assert (note["type"], note["title"], note["content"], note["tags"], note["metadata"]) == (
        "note", "", "remember", [], {"scope": "pod"})
    link = (await client.post(assets, json={"type": "link", "sourceRef": "https://example.com"},
                              headers=alice.headers)).json()

    listed = await client.get(assets, headers=carol.headers)
    assert [item["id"] for item in listed.json()] == [link["id"], note["id"], doc["id"]]
    assert "X-Next-Cursor" not in listed.headers
    assert [item["id"] for item in (await client.get(assets, params={"type": "doc"}, headers=bob.headers)).json()
            ] == [doc["id"]]
    first_page = await client.get(assets, params={"limit": 2}, headers=bob.headers)
    assert [item["id"] for item in first_page.json()] == [link["id"], note["id"]]
    assert first_page.headers["X-Next-Cursor"] == note["id"]
    rest = await client.get(assets, params={"limit": 2, "before": note["id"]}, headers=bob.headers)
    assert [item["id"] for item in rest.json()] == [doc["id"]] and "X-Next-Cursor" not in rest.headers
    assert (await client.get(f"{assets}/{doc['id']}", headers=carol.headers)).json() == doc
    clamped = await client.get(assets, params={"limit": 0}, headers=bob.headers)
    assert len(clamped.json()) == 1 and clamped.headers["X-Next-Cursor"] == link["id"]
    assert len((await client.get(assets, params={"limit": 999}, headers=bob.headers)).json()) == 3
    for bad in ({"before": "abc"}, {"before": 0}, {"status": "deleted"}, {"limit": "many"}):
        assert_error(await client.get(assets, params=bad, headers=bob.headers), 400, "validation_error")

    # update: the author, the pod's admin, a global admin; not another member
    response = await client.patch(f"{assets}/{doc['id']}", json={"title": "Runbook v2", "tags": ["ops"]},
                                  headers=bob.headers)
    assert response.status_code == 200
    updated = response.json()
    assert (updated["title"], updated["tags"], updated["content"]) == ("Runbook v2", ["ops"], fields["content"])
    assert updated["updatedAt"] >= doc["updatedAt"]
    assert_error(await client.patch(f"{assets}/{doc['id']}", json={"title": "mine now"}, headers=carol.headers),
                 403, "not_allowed")
    assert (await client.patch(f"{assets}/{doc['id']}", json={"content": "by alice"},
                               headers=alice.headers)).json()["content"] == "by alice"
    assert (await client.patch(f"{assets}/{doc['id']}", json={"sourceRef": "root.md"},
                               headers=root.headers)).json()["sourceRef"] == "root.md"
    # the scope stays where it is, whatever metadata says
    moved = (await client.patch(f"{assets}/{doc['id']}", json={"metadata": {"scope": "agent", "x": 1}},
                                headers=bob.headers)).json()
    assert moved["metadata"] == {"scope": "pod", "x": 1}
    assert (await PodAsset.get(id=doc["id"])).scope == "pod"

    # archive through PATCH status
    archived = (await client.patch(f"{assets}/{note['id']}", json={"status": "archived"}, headers=carol.headers)
                ).json()
    assert archived["status"] == "archived"
    active = (await client.get(assets, params={"status": "active"}, headers=bob.headers)).json()
    assert [item["id"] for item in active] == [link["id"], doc["id"]]
    assert [item["id"] for item in (await client.get(assets, params={"status": "archived"},
                                                     headers=bob.headers)).json()] == [note["id"]]
    context = (await client.get(f"/api/pods/{pod['id']}/context", headers=bob.headers)).json()
    assert {item["id"] for item in context["assets"]} == {link["id"], doc["id"]}

    # delete: the author or an admin
    assert_error(await client.delete(f"{assets}/{link['id']}", headers=bob.headers), 403, "not_allowed")
    response = await client.delete(f"{assets}/{doc['id']}", headers=bob.headers)
    assert response.status_code == 200 and response.json() == {"message": "Asset deleted."}
    assert (await client.delete(f"{assets}/{note['id']}", headers=alice.headers)).status_code == 200
    assert_error(await client.get(f"{assets}/{doc['id']}", headers=bob.headers), 404, "asset_not_found")
    assert_error(await client.delete(f"{assets}/{doc['id']}", headers=bob.headers), 404, "asset_not_found")
    assert [item["id"] for item in (await client.get(assets, headers=bob.headers)).json()] == [link["id"]]

    # another pod's asset is not this pod's, and impossible ids are 404
    foreign = (await client.post(f"/api/pods/{other['id']}/assets", json={"title": "x"}, headers=alice.headers)
               ).json()
    for asset_id in (foreign["id"], "0", "-3", "abc", str(2**63), str(2**64), "9" * 30):
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(method, f"{assets}/{asset_id}", headers=alice.headers,
                                            json={"title": "t"} if method == "PATCH" else None)
            assert_error(response, 404, "asset_not_found")
    assert await PodAsset.filter(id=foreign["id"], title="x").exists()

    assert hooks.of("asset_saved") == [
        (doc["id"], "active"), (note["id"], "active"), (link["id"], "active"),  # created
        (doc["id"], "active"), (doc["id"], "active"), (doc["id"], "active"), (doc["id"], "active"),  # updated
        (foreign["id"], "active"),
    ]
    # archiving counts as deleting for the listeners (an index drops it); then the real deletes
    assert hooks.of("asset_deleted") == [(note["id"],), (doc["id"],), (note["id"],)]


async def test_agent_scoped_assets_belong_to_one_instance(client, make_user, make_agent, make_pod, seat,
                                                          hooks, assert_error):
    alice = await make_user()
    agent = await make_agent(agent_name="scribe", instance_id="one")
    stranger = await make_agent(agent_name="other-agent")
    pod = await make_pod(alice)
    for bot in (agent, stranger):
        await seat(bot, pod)
    assets = f"/api/pods/{pod['id']}/assets"

    response = await client.post(assets, json={"title": "private notes", "content": "remember the falcon"},
                                 headers=agent.headers)
    assert response.status_code == 201
    private = response.json()
    assert private["metadata"] == {"scope": "agent", "agentName": "scribe", "instanceId": "one"}
    assert (private["createdByType"], private["createdBy"]) == ("agent", agent.id)
    shared = (await client.post(assets, json={"title": "shared notes", "scope": "pod"}, headers=agent.headers)
              ).json()
    assert shared["metadata"] == {"scope": "pod"}
    by_metadata = (await client.post(assets, json={"title": "also private", "metadata": {"scope": "agent"}},
                                     headers=agent.headers)).json()
    assert by_metadata["metadata"]["instanceId"] == "one"

    def listed(response) -> set[str]:
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()}

    assert listed(await client.get(assets, headers=agent.headers)) == {private["id"], shared["id"], by_metadata["id"]}
    assert listed(await client.get(assets, headers=agent.with_scopes("memory:read").headers)) == {
        private["id"], shared["id"], by_metadata["id"]}
    # people (even the pod's admin), other agents, another instance, a token without memory:read: not theirs
    for outsider in (alice, stranger, agent.as_instance("two"), agent.with_scopes("context:read")):
        assert listed(await client.get(assets, headers=outsider.headers)) == {shared["id"]}
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(method, f"{assets}/{private['id']}", headers=outsider.headers,
                                            json={"title": "mine"} if method == "PATCH" else None)
            assert_error(response, 404, "asset_not_found")
        search = await client.get(f"/api/pods/{pod['id']}/context/search", params={"query": "falcon"},
                                  headers=outsider.headers)
        assert search.json()["results"] == []
        excerpt = await client.get(f"/api/pods/{pod['id']}/context/assets/{private['id']}", headers=outsider.headers)
        assert_error(excerpt, 404, "asset_not_found")
    search = await client.get(f"/api/pods/{pod['id']}/context/search", params={"query": "falcon"},
                              headers=agent.headers)
    assert [hit["assetId"] for hit in search.json()["results"]] == [private["id"]]
    assert (await client.patch(f"{assets}/{private['id']}", json={"content": "updated"}, headers=agent.headers)
            ).json()["metadata"]["scope"] == "agent"

    # only agents keep agent-scoped memory; a scope must be one of the two
    assert_error(await client.post(assets, json={"scope": "agent", "content": "x"}, headers=alice.headers), 400,
                 "invalid_scope")
    assert_error(await client.post(assets, json={"metadata": {"scope": "agent"}, "content": "x"},
                                   headers=alice.headers), 400, "invalid_scope")
    for weird in ("team", 5, ["pod"]):
        assert_error(await client.post(assets, json={"metadata": {"scope": weird}, "content": "x"},
                                       headers=agent.headers), 400, "invalid_scope")
    assert_error(await client.post(assets, json={"scope": "team"}, headers=agent.headers), 400, "validation_error")
    assert await PodAsset.filter(pod_id=pod["id"]).count() == 3
    assert len(hooks.of("asset_saved")) == 4
