"""The pod context: defaults and clamps of every parameter, ranking for a task, tags, stats, skill
modes without an LLM, other plugins' sections; keyword search and excerpts."""

from __future__ import annotations

from commonly_pods.models import PodAsset

from commonly_kernel import ContextSearch, ContextSection


async def get_context(client, user, pod, **params) -> dict:
    response = await client.get(f"/api/pods/{pod['id']}/context", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def bulk_assets(pod, user, rows: list[dict]) -> None:
    """Many assets at once (set up before the pod's first context read, so its index loads them)."""
    await PodAsset.bulk_create([PodAsset(pod_id=pod["id"], created_by_id=user.id, metadata={"scope": "pod"}, **row)
                                for row in rows])


async def test_empty_pod_context(client, make_user, make_pod):
    alice = await make_user()
    pod = await make_pod(alice, name="Garden", description="plants", type="study")
    context = await get_context(client, alice, pod)
    assert context == {
        "pod": {"id": pod["id"], "name": "Garden", "description": "plants", "type": "study"},
        "task": None, "summaries": [], "assets": [], "tags": [], "skills": [], "skillModeUsed": "heuristic",
        "skillWarnings": context["skillWarnings"], "stats": {"summaries": 0, "assets": 0, "tags": 0, "skills": 0},
    }
    [warning] = context["skillWarnings"]
    assert "COMMONLY_LLM_BASE_URL" in warning


async def test_defaults_clamps_and_stats(client, make_user, make_pod, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    await bulk_assets(pod, alice, [
        *[{"type": "summary" if n % 2 else "integration-summary", "title": f"summary {n}", "content": "s"}
          for n in range(21)],
        *[{"type": "note", "title": f"note {n}", "content": "n", "tags": [f"tag{n}"]} for n in range(41)],
        *[{"type": "skill", "title": f"skill {n}", "content": "# skill", "sourceType": "import"} for n in range(13)],
    ])

    def sizes(context: dict) -> tuple[int, int, int, int]:
        stats = context["stats"]
        assert stats == {name: len(context[name]) for name in ("summaries", "assets", "tags", "skills")}
        return stats["summaries"], stats["assets"], stats["tags"], stats["skills"]

    default = await get_context(client, alice, pod)
    assert sizes(default) == (6, 12, 16, 6)
    assert [item["title"] for item in default["summaries"]] == [f"summary {n}" for n in range(20, 14, -1)]
    assert all(item["type"] == "note" for item in default["assets"])
    assert set(default["summaries"][0]) == {"id", "title", "content", "tags", "createdAt"}
    assert {skill["title"] for skill in default["skills"]} <= {f"skill {n}" for n in range(13)}
    low = {"summaryLimit": 0, "assetLimit": -5, "tagLimit": 0, "skillLimit": -1}
    assert sizes(await get_context(client, alice, pod, **low)) == (1, 1, 1, 1)
    high = {"summaryLimit": 100, "assetLimit": 1000, "tagLimit": 99, "skillLimit": 50, "skillRefreshHours": 9999}
    assert sizes(await get_context(client, alice, pod, **high)) == (20, 40, 40, 12)
    exact = {"summaryLimit": 20, "assetLimit": 40, "tagLimit": 40, "skillLimit": 12, "skillRefreshHours": 0}
    assert sizes(await get_context(client, alice, pod, **exact)) == (20, 40, 40, 12)
    assert sizes(await get_context(client, alice, pod, summaryLimit=3, skillMode="none", skillLimit=50)) == (
        3, 12, 16, 12)
    # known parameters with values that are not numbers are refused; unknown ones ignored
    for bad in ({"summaryLimit": "many"}, {"assetLimit": "1.5"}, {"skillRefreshHours": "soon"},
                {"task": "x" * 2001}):
        assert_error(await client.get(f"/api/pods/{pod['id']}/context", params=bad, headers=alice.headers), 400,
                     "validation_error")
    assert sizes(await get_context(client, alice, pod, agentId="x", limit="5")) == (6, 12, 16, 6)


async def test_task_ranking_tags_and_heuristic_skills(client, make_user, make_pod, make_asset):
    alice = await make_user()
    pod = await make_pod(alice)
    tagged = await make_asset(alice, pod, title="Invoices", content="numbers", tags=["Billing", "finance"])
    titled = await make_asset(alice, pod, title="Billing migration plan", content="steps", tags=["finance"])
    worded = await make_asset(alice, pod, title="Notes", content="the billing service is slow", tags=["perf"])
    other = await make_asset(alice, pod, title="Lunch", content="pizza friday", tags=["social", "finance"])
    summary_old = await make_asset(alice, pod, type="summary", title="Week 1", content="billing outage", tags=[])
    summary_new = await make_asset(alice, pod, type="summary", title="Week 2", content="quiet week", tags=[])
    archived = await make_asset(alice, pod, title="Old billing", tags=["billing", "archived-tag"])
    response = await client.patch(f"/api/pods/{pod['id']}/assets/{archived['id']}", json={"status": "archived"},
                                  headers=alice.headers)
    assert response.status_code == 200

    plain = await get_context(client, alice, pod, skillMode="heuristic")
    assert [item["id"] for item in plain["assets"]] == [other["id"], worded["id"], titled["id"], tagged["id"]]
    assert [item["id"] for item in plain["summaries"]] == [summary_new["id"], summary_old["id"]]
    assert plain["assets"][0] == {**other, "updatedAt": plain["assets"][0]["updatedAt"]}

    task = "Fix the billing bug"
    ranked = await get_context(client, alice, pod, task=task, skillMode="heuristic")
    assert ranked["task"] == task
    assert [item["id"] for item in ranked["assets"]] == [tagged["id"], titled["id"], worded["id"], other["id"]]
    assert [item["id"] for item in ranked["summaries"]] == [summary_old["id"], summary_new["id"]]

    # tags: counted case-insensitively over active assets, most frequent first
    counts = {item["tag"]: item["count"] for item in ranked["tags"]}
    assert counts == {"finance": 3, "billing": 1, "perf": 1, "social": 1}
    assert ranked["tags"][0] == {"tag": "finance", "count": 3}

    # heuristic skills: one per frequent tag, listing the assets that carry it, task-relevant first
    assert ranked["skillModeUsed"] == "heuristic" and ranked["skillWarnings"] == []
    first = ranked["skills"][0]
    assert (first["id"], first["type"], first["tags"]) == ("heuristic:finance", "skill", ["finance"])
    assert first["metadata"]["heuristic"] is True and first["metadata"]["tag"] == "finance"
    assert first["metadata"]["sourceAssetIds"] == [tagged["id"], titled["id"], other["id"]]
    assert "finance" in first["content"] and "Invoices" in first["content"]
    assert {skill["id"] for skill in ranked["skills"]} == {f"heuristic:{tag}" for tag in counts}
    assert all(skill["metadata"]["heuristic"] is True for skill in ranked["skills"])
    assert len((await get_context(client, alice, pod, skillMode="heuristic", skillLimit=2))["skills"]) == 2


async def test_skill_modes_without_an_llm(client, make_user, make_pod, make_asset):
    alice = await make_user()
    pod = await make_pod(alice)
    imported = await make_asset(alice, pod, type="skill", title="How we deploy", content="# Deploy\n1. push",
                                tags=["deploy"], sourceType="import")
    await make_asset(alice, pod, title="deploy log", tags=["deploy"])
    await make_asset(alice, pod, title="db notes", tags=["db"])

    none = await get_context(client, alice, pod, skillMode="none")
    assert none["skillModeUsed"] == "none" and none["skillWarnings"] == []
    assert [skill["id"] for skill in none["skills"]] == [imported["id"]]
    assert none["skills"][0]["content"] == "# Deploy\n1. push"
    assert [item["title"] for item in none["assets"]] == ["db notes", "deploy log"]  # skills are not assets

    heuristic = await get_context(client, alice, pod, skillMode="heuristic")
    assert heuristic["skillModeUsed"] == "heuristic" and heuristic["skillWarnings"] == []
    assert [skill["id"] for skill in heuristic["skills"]] == [imported["id"], "heuristic:deploy", "heuristic:db"]

    # llm (the default, and what an unknown mode means) falls back to heuristic and says why
    for params in ({}, {"skillMode": "llm"}, {"skillMode": "magic"}, {"skillMode": ""}):
        answer = await get_context(client, alice, pod, **params)
        assert answer["skillModeUsed"] == "heuristic", params
        assert [skill["id"] for skill in answer["skills"]] == [skill["id"] for skill in heuristic["skills"]]
        assert len(answer["skillWarnings"]) == 1 and "LLM" in answer["skillWarnings"][0]
    # no generated skill was stored
    assert await PodAsset.filter(pod_id=pod["id"], type="skill").count() == 1


async def test_plugin_sections_are_top_level_keys(client, make_user, make_agent, make_pod, seat, hooks,
                                                  assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    hooks.sections = [ContextSection(name="extra", content={"hello": "world"}),
                      ContextSection(name="skills", content="a section may not replace a core key")]
    context = await get_context(client, alice, pod, task="plan the week", summaryLimit=3)
    assert context["extra"] == {"hello": "world"}
    assert context["skills"] == []  # a section may not take a core key
    assert hooks.context_calls == [(pod["id"], alice.id, {
        "task": "plan the week", "summary_limit": 3, "asset_limit": 12, "tag_limit": 16, "skill_limit": 6,
        "skill_mode": "llm", "skill_refresh_hours": 6})]
    # agents read the context with context:read
    agent = await make_agent(scopes=("context:read",))
    await seat(agent, pod)
    assert (await get_context(client, agent, pod))["extra"] == {"hello": "world"}
    body = assert_error(await client.get(f"/api/pods/{pod['id']}/context",
                                         headers=agent.with_scopes("messages:write").headers), 403, "missing_scope")
    assert body["details"] == {"missing": ["context:read"]}


async def test_search(client, make_user, make_pod, make_asset, hooks, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    guide = await make_asset(alice, pod, type="doc", title="Deploy guide", tags=["deploy"],
                             content="How to deploy the app.\n" + "filler " * 100 + "\ndeploy with care")
    notes = await make_asset(alice, pod, type="note", title="Docker notes", content="before we deploy, build")
    skill = await make_asset(alice, pod, type="skill", title="Deploy skill", content="deploy steps",
                             sourceType="import")
    await make_asset(alice, pod, type="note", title="Lunch", content="pizza")
    url = f"/api/pods/{pod['id']}/context/search"

    async def search(**params) -> dict:
        response = await client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return response.json()

    found = await search(query="deploy")
    assert (found["query"], found["mode"]) == ("deploy", "keyword")
    assert [hit["assetId"] for hit in found["results"]] == [guide["id"], notes["id"]]
    best = found["results"][0]
    assert set(best) == {"assetId", "title", "type", "tags", "score", "snippet", "createdAt"}
    assert (best["title"], best["type"], best["tags"]) == ("Deploy guide", "doc", ["deploy"])
    assert best["score"] == 1.0 and 0 < found["results"][1]["score"] < 1
    assert best["snippet"].startswith("How to deploy") and best["snippet"].endswith("…")
    with_skills = await search(query="deploy", includeSkills="true")
    assert [hit["assetId"] for hit in with_skills["results"]] == [guide["id"], skill["id"], notes["id"]]
    assert [hit["assetId"] for hit in (await search(query="deploy", types="note"))["results"]] == [notes["id"]]
    assert [hit["assetId"] for hit in (await search(query="deploy", types=" note, doc ,"))["results"]] == [
        guide["id"], notes["id"]]
    assert (await search(query="deploy", types="skill"))["results"] == []
    assert len((await search(query="deploy", limit=1))["results"]) == 1
    assert len((await search(query="deploy", limit=0))["results"]) == 1
    assert len((await search(query="deploy", limit=500))["results"]) == 2
    assert (await search(query="nothing matches here"))["results"] == []

    for params in ({}, {"query": ""}, {"query": "   "}, {"query": "deploy", "limit": "x"},
                   {"query": "deploy", "includeSkills": "perhaps"}):
        assert_error(await client.get(url, params=params, headers=alice.headers), 400, "validation_error")

    # a plugin (the vector index) may answer instead; its results are cut to the limit
    hit = {"assetId": notes["id"], "title": "Docker notes", "type": "note", "tags": [], "score": 0.9,
           "snippet": "before we deploy", "createdAt": notes["createdAt"]}
    hooks.search_answer = ContextSearch(mode="semantic", results=[hit, {**hit, "score": 0.5}])
    answer = await search(query="shipping", limit=1, types="note,doc", includeSkills="1")
    assert answer == {"query": "shipping", "mode": "semantic", "results": [hit]}
    assert hooks.search_calls[-1] == (pod["id"], alice.id, "shipping", 1, ["doc", "note"], True)


async def test_excerpts_clamp_from_and_lines(client, make_user, make_pod, make_asset, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    long = await make_asset(alice, pod, title="Thirty lines", content="\n".join(f"line {n}" for n in range(1, 31)))
    empty = await make_asset(alice, pod, title="Empty")
    url = f"/api/pods/{pod['id']}/context/assets/{long['id']}"

    async def excerpt(**params) -> tuple[int, int, int, list[str]]:
        response = await client.get(url, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["assetId"], body["title"]) == (long["id"], "Thirty lines")
        return body["startLine"], body["endLine"], body["totalLines"], body["text"].split("\n")

    assert await excerpt() == (1, 12, 30, [f"line {n}" for n in range(1, 13)])
    start, end, total, lines = await excerpt(**{"from": 25, "lines": 12})
    assert (start, end, total, lines) == (25, 30, 30, [f"line {n}" for n in range(25, 31)])
    assert (await excerpt(**{"from": 0}))[:2] == (1, 12)
    assert (await excerpt(**{"from": -4, "lines": 2}))[:2] == (1, 2)
    assert (await excerpt(**{"from": 999}))[:2] == (30, 30)
    assert (await excerpt(lines=0))[:2] == (1, 1)
    assert (await excerpt(lines=-3))[:2] == (1, 1)
    assert (await excerpt(lines=5000))[:2] == (1, 30)
    assert (await excerpt(**{"from": 10, "lines": 3}))[3] == ["line 10", "line 11", "line 12"]
    for bad in ({"from": "top"}, {"lines": "all"}, {"from": "1.5"}):
        assert_error(await client.get(url, params=bad, headers=alice.headers), 400, "validation_error")
    blank = await client.get(f"/api/pods/{pod['id']}/context/assets/{empty['id']}", headers=alice.headers)
    assert blank.json() == {"assetId": empty["id"], "title": "Empty", "text": "", "startLine": 1, "endLine": 1,
                            "totalLines": 1}
    for missing in ("999999", "abc", str(2**64)):
        assert_error(await client.get(f"/api/pods/{pod['id']}/context/assets/{missing}", headers=alice.headers),
                     404, "asset_not_found")
