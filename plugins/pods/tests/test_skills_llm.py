"""``skillMode=llm`` against a real OpenAI-compatible endpoint: a small aiohttp server on a loopback
port that answers ``POST /v1/chat/completions`` in the documented chat-completion shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from commonly_pods.models import PodAsset

API_KEY = "sk-test-0123456789"
MODEL = "tiny-test-model"


@dataclass
class FakeLLM:
    """What the endpoint received, and how it answers next (``ok``, ``error``, ``garbage``, ``prose``)."""

    url: str = ""
    mode: str = "ok"
    skills: list[dict[str, Any]] = field(default_factory=lambda: [
        {"title": "Deploying safely", "content": "# Deploying safely\n\n1. Run the checks.", "tags": ["deploy"]},
        {"title": "Reading the metrics", "content": "# Metrics\n\nLook at p95 first.", "tags": ["ops", 7]},
    ])
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"authorization": request.headers.get("Authorization"), "body": body})
        if self.mode == "error":
            return web.json_response({"error": {"message": "overloaded", "type": "server_error"}}, status=500)
        if self.mode == "garbage":
            return web.Response(text="<html>gateway says hi</html>", content_type="text/html")
        content = ("I would rather not." if self.mode == "prose"
                   else "```json\n" + json.dumps({"skills": self.skills}) + "\n```")
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 1_700_000_000,
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        })


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    fake = FakeLLM()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
def commonly_settings(llm: FakeLLM) -> dict[str, str]:
    return {"COMMONLY_LLM_BASE_URL": f"{llm.url}/v1", "COMMONLY_LLM_API_KEY": API_KEY, "COMMONLY_LLM_MODEL": MODEL}


async def get_context(client, user, pod, **params) -> dict:
    response = await client.get(f"/api/pods/{pod['id']}/context", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def backdate(ids: list[str], hours: float) -> None:
    await PodAsset.filter(id__in=ids).update(created_at=datetime.now(UTC) - timedelta(hours=hours))


@pytest.fixture
async def stocked(make_user, make_pod, make_asset):
    """A pod with a summary and two notes for the LLM to read."""
    alice = await make_user()
    pod = await make_pod(alice, name="Platform team")
    sources = [
        await make_asset(alice, pod, type="summary", title="Release week", content="We shipped 2.0.", tags=["deploy"]),
        await make_asset(alice, pod, title="Dashboards", content="Grafana lives at /grafana.", tags=["ops"]),
        await make_asset(alice, pod, title="Rollback", content="Use the previous image tag.", tags=["deploy"]),
    ]
    return alice, pod, sources


async def test_llm_skills_are_stored_and_reused(client, llm, stocked, hooks):
    alice, pod, sources = stocked
    first = await get_context(client, alice, pod)
    assert (first["skillModeUsed"], first["skillWarnings"]) == ("llm", [])
    assert [skill["title"] for skill in first["skills"]] == ["Deploying safely", "Reading the metrics"]
    assert first["skills"][0]["content"].startswith("# Deploying safely")
    assert first["skills"][1]["tags"] == ["ops", "7"]
    assert first["stats"]["skills"] == 2 and all(item["type"] != "skill" for item in first["assets"])

    # what the endpoint was sent: the key, the model, the pod's memory
    [request] = llm.requests
    assert request["authorization"] == f"Bearer {API_KEY}"
    assert request["body"]["model"] == MODEL
    system, user = request["body"]["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "Platform team" in system["content"] and "at most 6 skills" in system["content"]
    for source in sources:
        assert source["title"] in user["content"] and source["content"] in user["content"]

    stored = await PodAsset.filter(pod_id=pod["id"], type="skill").order_by("id")
    assert [str(asset.id) for asset in stored] == [skill["id"] for skill in first["skills"]]
    for asset in stored:
        assert (asset.source_type, asset.status, asset.created_by_type, asset.scope) == ("llm", "active", "system",
                                                                                        "pod")
        assert asset.metadata["generatedBy"] == "llm" and asset.metadata["model"] == MODEL
        assert asset.metadata["task"] is None
        assert set(asset.metadata["sourceAssetIds"]) == {source["id"] for source in sources}
    assert [event[0] for event in hooks.of("asset_saved")][-2:] == [str(asset.id) for asset in stored]

    # reused while fresh: the endpoint is not asked again (skillRefreshHours 0 is clamped to 1)
    for params in ({}, {"skillRefreshHours": 0}, {"skillMode": "llm", "skillLimit": 12}):
        again = await get_context(client, alice, pod, **params)
        assert [skill["id"] for skill in again["skills"]] == [skill["id"] for skill in first["skills"]], params
    assert [skill["id"] for skill in (await get_context(client, alice, pod, skillLimit=1))["skills"]] == [
        first["skills"][0]["id"]]
    assert len(llm.requests) == 1
    # the stored skills are the pod's assets now
    listed = (await client.get(f"/api/pods/{pod['id']}/assets", params={"type": "skill"}, headers=alice.headers)
              ).json()
    assert {item["sourceType"] for item in listed} == {"llm"} and len(listed) == 2

    # two hours old: fresh for the default 6 hours, stale for 1
    await backdate([skill["id"] for skill in first["skills"]], hours=2)
    assert [skill["id"] for skill in (await get_context(client, alice, pod))["skills"]] == [
        skill["id"] for skill in first["skills"]]
    assert len(llm.requests) == 1
    second = await get_context(client, alice, pod, skillRefreshHours=1)
    assert len(llm.requests) == 2
    assert {skill["id"] for skill in second["skills"]}.isdisjoint(skill["id"] for skill in first["skills"])
    statuses = {str(asset.id): asset.status for asset in await PodAsset.filter(pod_id=pod["id"], type="skill")}
    assert statuses == {**{skill["id"]: "archived" for skill in first["skills"]},
                        **{skill["id"]: "active" for skill in second["skills"]}}
    assert {event[0] for event in hooks.of("asset_deleted")} == {skill["id"] for skill in first["skills"]}

    # 100 hours old: stale even for the largest refresh window (9999 is clamped to 72)
    await backdate([skill["id"] for skill in second["skills"]], hours=100)
    await get_context(client, alice, pod, skillRefreshHours=9999)
    assert len(llm.requests) == 3


async def test_a_task_regenerates_skills(client, llm, stocked, make_asset):
    alice, pod, _ = stocked
    imported = await make_asset(alice, pod, type="skill", title="Imported", content="# mine", sourceType="import")
    first = await get_context(client, alice, pod, skillLimit=3)
    assert first["skills"][0]["id"] == imported["id"]
    assert len(first["skills"]) == 3 and len(llm.requests) == 1
    assert "at most 2 skills" in llm.requests[0]["body"]["messages"][0]["content"]  # room left by the import

    task = "roll back a bad deploy"
    with_task = await get_context(client, alice, pod, task=task)
    assert len(llm.requests) == 2
    assert task in llm.requests[1]["body"]["messages"][0]["content"]
    generated = [skill for skill in with_task["skills"] if skill["id"] != imported["id"]]
    assert [skill["metadata"]["task"] for skill in generated] == [task, task]
    await get_context(client, alice, pod, task=task)
    assert len(llm.requests) == 3  # every task is asked anew
    assert await PodAsset.filter(pod_id=pod["id"], type="skill", source_type="llm", status="active").count() == 2
    # the imported skill is never replaced
    assert (await PodAsset.get(id=imported["id"])).status == "active"


@pytest.mark.parametrize(("mode", "reason"), [
    ("error", "answered 500"), ("garbage", "not a chat completion"), ("prose", "no skills JSON"),
])
async def test_failures_fall_back_to_heuristic_with_a_warning(client, llm, stocked, mode, reason):
    alice, pod, _ = stocked
    llm.mode = mode
    context = await get_context(client, alice, pod)
    assert context["skillModeUsed"] == "heuristic"
    [warning] = context["skillWarnings"]
    assert reason in warning and API_KEY not in warning
    assert [skill["id"] for skill in context["skills"]] == ["heuristic:deploy", "heuristic:ops"]
    assert all(skill["metadata"]["heuristic"] is True for skill in context["skills"])
    assert len(llm.requests) == 1
    assert await PodAsset.filter(pod_id=pod["id"], type="skill").count() == 0
    # once the endpoint is back, the next request writes skills
    llm.mode = "ok"
    assert (await get_context(client, alice, pod))["skillModeUsed"] == "llm"
    assert len(llm.requests) == 2


async def test_nothing_to_learn_from_asks_nothing(client, llm, make_user, make_pod):
    alice = await make_user()
    pod = await make_pod(alice)
    context = await get_context(client, alice, pod)
    assert (context["skillModeUsed"], context["skills"], context["skillWarnings"]) == ("llm", [], [])
    assert llm.requests == []
    heuristic = await get_context(client, alice, pod, skillMode="heuristic")
    assert heuristic["skillModeUsed"] == "heuristic" and llm.requests == []
