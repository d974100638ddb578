"""The durable indexing queue: restarts resume it, failing jobs stop after a bounded number of tries,
pod deletion drops the pod's index; and the command line."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from click.testing import CliRunner
from commonly_auth.models import User
from commonly_auth.service import issue_token
from commonly_vector_index import cli
from commonly_vector_index.models import FAILED, VectorChunk, VectorJob

from commonly_kernel.testing import serve


async def _user(settings: Any, username: str) -> dict[str, str]:
    user = await User.create(username=username, username_key=username, email=f"{username}@example.com",
                             password_hash="x", role="user", verified=True)
    return {"Authorization": f"Bearer {issue_token(user, settings)}"}


async def _drained(http: httpx.AsyncClient, pod_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(3600):  # 180 s: the first test here loads the model, slow on a loaded machine
        stats = (await http.get(f"/api/v1/pods/{pod_id}/index/stats", headers=headers)).json()["stats"]
        if stats["pending"] == 0:
            return stats
        await asyncio.sleep(0.05)
    raise AssertionError(f"the queue did not drain: {stats}")


async def test_a_restart_finishes_what_was_queued(make_app):
    first = make_app(COMMONLY_VECTOR_WORKER="0", COMMONLY_VECTOR_REBUILD_WAIT="0.3")  # it only queues
    async with serve(first) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = await _user(first.kernel.settings, "alice")
        pod = (await http.post("/api/pods", json={"name": "Notes"}, headers=headers)).json()
        for number in range(5):
            response = await http.post(f"/api/pods/{pod['id']}/assets", headers=headers, json={
                "title": f"Note {number}", "content": f"Harbour crane number {number} needs new cables."})
            assert response.status_code == 201
        url = f"/api/pods/{pod['id']}/context/search"
        assert (await http.get(url, params={"query": "harbour crane"}, headers=headers)).json()["mode"] == "keyword"
        stats = (await http.get(f"/api/v1/pods/{pod['id']}/index/stats", headers=headers)).json()["stats"]
        assert stats["pending"] == 5 and stats["chunks"] == 0
        # A rebuild with nobody draining the queue answers 202 with what it queued.
        response = await http.post(f"/api/v1/pods/{pod['id']}/index/rebuild", headers=headers)
        assert response.status_code == 202 and response.json() == {"indexed": 0, "errors": 0, "total": 5,
                                                                    "reset": False, "pending": 5}
    second = make_app()
    async with serve(second) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        stats = await _drained(http, pod["id"], headers)
        assert stats["assets"] == 5 and stats["chunks"] == 5
        response = await http.get(f"/api/v1/pods/{pod['id']}/index/search", params={"q": "lifting equipment at "
                                  "the port"}, headers=headers)
        assert len(response.json()["results"]) == 5
        assert (await http.get(url, params={"query": "harbour crane"}, headers=headers)).json()["mode"] == "semantic"


async def test_a_job_that_keeps_failing_stops_and_says_why(client, make_user, make_pod, make_asset, indexed,
                                                            search, embedder):
    alice = await make_user()
    pod = await make_pod(alice)
    good = await make_asset(alice, pod, title="Fine", content="An ordinary note about the garden fence.")
    bad = await make_asset(alice, pod, title="Bad", content="This one is POISON for the model.")
    stats = await indexed(alice, pod)
    assert stats["failed"] == 1 and stats["assets"] == 1 and stats["pending"] == 0
    job = await VectorJob.get(asset_id=int(bad["id"]))
    assert job.status == FAILED and job.attempts == 5 and "poisons the model" in job.last_error
    hits = (await search(alice, pod, "garden")).json()["results"]
    assert [hit["assetId"] for hit in hits] == [good["id"]]
    # Fixing the asset queues it afresh (the failed job is superseded).
    response = await client.patch(f"/api/pods/{pod['id']}/assets/{bad['id']}", headers=alice.headers,
                                  json={"content": "Now harmless."})
    assert response.status_code == 200
    stats = await indexed(alice, pod)
    assert stats["failed"] == 0 and stats["assets"] == 2


async def test_rebuild_reindexes_and_reset_drops_first(client, make_user, make_pod, make_asset, indexed):
    alice = await make_user()
    pod = await make_pod(alice)
    for number in range(3):
        await make_asset(alice, pod, title=f"Note {number}", content=f"Text number {number}.")
    await indexed(alice, pod)
    url = f"/api/v1/pods/{pod['id']}/index/rebuild"
    response = await client.post(url, headers=alice.headers)
    assert response.status_code == 200 and response.json() == {"indexed": 3, "errors": 0, "total": 3,
                                                                "reset": False, "pending": 0}
    response = await client.post(url, json={"reset": True}, headers={**alice.headers})
    assert response.status_code == 200 and response.json()["reset"] is True and response.json()["indexed"] == 3
    stats = await indexed(alice, pod)
    assert stats["chunks"] == 3 and stats["assets"] == 3
    other = await make_pod(alice, name="Second")
    await make_asset(alice, other, title="More", content="Another note.")
    response = await client.post("/api/v1/index/rebuild-all", json={"reset": False}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {"pods": 2, "indexed": 4, "errors": 0, "total": 4, "reset": False, "pending": 0}


async def test_deleting_a_pod_drops_its_index(client, make_user, make_pod, make_asset, indexed):
    alice = await make_user()
    pod = await make_pod(alice)
    keep = await make_pod(alice, name="Keep")
    await make_asset(alice, pod, title="One", content="First.")
    await make_asset(alice, keep, title="Two", content="Second.")
    await indexed(alice, pod)
    await indexed(alice, keep)
    assert (await client.delete(f"/api/pods/{pod['id']}", headers=alice.headers)).status_code == 200
    for _ in range(200):
        if not await VectorChunk.filter(pod_id=pod["id"]).exists() and not await VectorJob.all().exists():
            break
        await asyncio.sleep(0.05)
    assert not await VectorChunk.filter(pod_id=pod["id"]).exists()
    assert await VectorChunk.filter(pod_id=keep["id"]).count() == 1


async def test_the_command_line_rebuilds_with_a_progress_bar(make_app, make_settings, commonly_plugins, capsys):
    app = make_app(COMMONLY_VECTOR_WORKER="0")
    async with serve(app) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = await _user(app.kernel.settings, "carol")
        pod = (await http.post("/api/pods", json={"name": "Notes"}, headers=headers)).json()
        for number in range(3):
            await http.post(f"/api/pods/{pod['id']}/assets", headers=headers,
                            json={"title": f"Note {number}", "content": f"Text {number}."})
    settings = make_settings()
    result = await cli.rebuild(pod["id"], True, settings=settings, plugins=commonly_plugins)
    assert result == {"pods": 1, "indexed": 3, "errors": 0, "total": 3}
    assert "Indexed 3 of 3 assets in 1 pod(s) after a reset; 0 failed." in capsys.readouterr().out
    await cli.stats(settings=settings, plugins=commonly_plugins)
    out = capsys.readouterr().out
    assert "all-MiniLM-L6-v2 (384 dimensions, available)" in out and pod["id"] in out
    # The queued jobs were done by the rebuild; a server started now has nothing left to do.
    async with serve(make_app()) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        stats = (await http.get(f"/api/v1/pods/{pod['id']}/index/stats", headers=headers)).json()["stats"]
        assert stats == {**stats, "chunks": 3, "assets": 3, "pending": 0}
    help_text = CliRunner().invoke(cli.index, ["--help"]).output
    assert "rebuild" in help_text and "stats" in help_text
    assert "--reset" in CliRunner().invoke(cli.index, ["rebuild", "--help"]).output


async def test_jobs_of_a_crashed_worker_are_taken_over_when_their_lease_ends(make_app):
    from datetime import UTC, datetime, timedelta

    from commonly_vector_index.models import RUNNING

    first = make_app(COMMONLY_VECTOR_WORKER="0")
    async with serve(first) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        headers = await _user(first.kernel.settings, "dora")
        pod = (await http.post("/api/pods", json={"name": "Notes"}, headers=headers)).json()
        asset = (await http.post(f"/api/pods/{pod['id']}/assets", headers=headers,
                                 json={"title": "Crane", "content": "The harbour crane."})).json()
        # As a process that died mid-batch leaves it: running, claimed, its lease about to end.
        await VectorJob.filter(asset_id=int(asset["id"])).update(
            status=RUNNING, claimed_by="a-dead-process", attempts=1,
            lease_until=datetime.now(UTC) + timedelta(seconds=1))
    async with serve(make_app()) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        stats = await _drained(http, pod["id"], headers)
        assert stats["assets"] == 1 and stats["failed"] == 0
