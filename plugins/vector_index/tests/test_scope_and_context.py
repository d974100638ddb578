"""Scope rules for people and agents, and the vector index's part in the pod context."""

from __future__ import annotations


async def test_agent_scoped_memory_is_seen_only_by_its_agent_with_memory_read(
        client, make_user, make_agent, make_pod, join_pod, make_asset, indexed, search):
    alice = await make_user()
    pod = await make_pod(alice)
    agent = await make_agent("scribe", "one", scopes=("memory:read", "memory:write"))
    await join_pod(agent, pod)
    shared = await make_asset(alice, pod, title="Office move", content="We relocate the team to the harbour "
                              "building on the first of March; desks are packed the week before.")
    response = await client.post(f"/api/v1/memory/{pod['id']}", headers=agent.headers, json={
        "target": "memory", "title": "Private notes", "content": "The scribe agent prefers terse bullet lists "
        "and must never post before nine in the morning."})
    assert response.status_code == 201, response.text
    private_id = response.json()["assetId"]
    stats = await indexed(alice, pod)
    assert stats["assets"] == 2  # numbers count agent-scoped memory too

    query = "what time may the scribe write and in which format"
    seen = {hit["assetId"] for hit in (await search(agent, pod, query)).json()["results"]}
    assert seen == {shared["id"], private_id}
    # People never see it; nor does the agent without memory:read, nor another instance.
    for other in (alice, agent.with_scopes("memory:write"), agent.as_instance("two")):
        hits = (await search(other, pod, query)).json()["results"]
        assert [hit["assetId"] for hit in hits] == [shared["id"]], other
    # The same rule in the pod context's semantic section and in context search.
    context = (await client.get(f"/api/pods/{pod['id']}/context", params={"task": query},
                                headers=alice.headers)).json()
    assert {hit["assetId"] for hit in context["semantic"]} == {shared["id"]}
    found = (await client.get(f"/api/pods/{pod['id']}/context/search", params={"query": query},
                              headers=agent.headers)).json()
    assert found["mode"] == "semantic" and {hit["assetId"] for hit in found["results"]} == {shared["id"], private_id}


async def test_context_has_a_semantic_section_only_with_a_task(client, make_user, make_pod, make_asset, indexed):
    alice = await make_user()
    pod = await make_pod(alice)
    wanted = await make_asset(alice, pod, title="Release checklist", content="Tag the commit, build the wheels, "
                              "upload them to the package index and announce the version on the mailing list.")
    await make_asset(alice, pod, title="Lunch rota", content="Tuesday: soup. Wednesday: curry. Friday: pizza.")
    await indexed(alice, pod)
    url = f"/api/pods/{pod['id']}/context"
    plain = (await client.get(url, headers=alice.headers)).json()
    assert "semantic" not in plain
    context = (await client.get(url, params={"task": "publish a new edition of our library"},
                                headers=alice.headers)).json()
    top = context["semantic"][0]
    assert top["assetId"] == wanted["id"] and set(top) == {"assetId", "chunkIndex", "title", "snippet", "score",
                                                           "type", "tags"}


async def test_context_search_is_semantic_when_indexed_and_keyword_otherwise(
        client, embedder, make_user, make_pod, make_asset, indexed):
    alice = await make_user()
    pod = await make_pod(alice)
    wanted = await make_asset(alice, pod, type="skill", title="Invoice chasing", content="Email customers whose "
                              "bills are overdue by thirty days, then phone them after forty-five.")
    other = await make_asset(alice, pod, type="note", title="Parking", content="Visitors park on level two.")
    await indexed(alice, pod)
    url = f"/api/pods/{pod['id']}/context/search"
    query = {"query": "getting clients to settle unpaid accounts"}
    answer = (await client.get(url, params=query, headers=alice.headers)).json()
    assert answer["mode"] == "semantic"
    assert [hit["assetId"] for hit in answer["results"]] == [other["id"]]  # skills only when asked
    answer = (await client.get(url, params={**query, "includeSkills": "true"}, headers=alice.headers)).json()
    hit = answer["results"][0]
    assert hit["assetId"] == wanted["id"] and set(hit) == {"assetId", "title", "type", "tags", "score", "snippet",
                                                           "createdAt"}
    answer = (await client.get(url, params={**query, "includeSkills": "true", "types": "note"},
                               headers=alice.headers)).json()
    assert [hit["assetId"] for hit in answer["results"]] == [other["id"]]

    # Without a usable model the pods plugin's keyword search answers, and the index search says 503.
    embedder.usable = False
    answer = (await client.get(url, params={"query": "overdue bills"}, headers=alice.headers)).json()
    assert answer["mode"] == "keyword"
    response = await client.get(f"/api/v1/pods/{pod['id']}/index/search", params={"q": "bills"},
                                headers=alice.headers)
    assert response.status_code == 503 and response.json()["error"] == "index_unavailable"
    stats = (await client.get(f"/api/v1/pods/{pod['id']}/index/stats", headers=alice.headers)).json()["stats"]
    assert stats["available"] is False

