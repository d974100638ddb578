"""Concurrent writes to pod memory: one active asset per imported skill, one active generated batch,
a PATCH that neither resurrects an archived asset nor undoes another PATCH, and writes into a pod
deleted meanwhile answered with 404 (never a 500).

Several transactions run at once here: on PostgreSQL each takes its own pooled connection, so these
interleave for real (on SQLite Tortoise runs one transaction at a time)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from commonly_pods import PodAccess, memory
from commonly_pods.models import PodAsset
from commonly_pods.pods import access, add_member, delete_pod, get_pod, lock_pod, remove_member
from tortoise.expressions import Q

from commonly_kernel import Actor, NotFound, transaction


async def _granted(pod: dict[str, Any], user: Any) -> PodAccess:
    return await access(pod["id"], Actor(id=user.id), "read")


async def test_concurrent_imports_of_one_skill_make_one_active_asset(live_server, make_user, make_pod):
    alice = await make_user()
    pod = await get_pod((await make_pod(alice))["id"])
    match = {"type": "skill", "source_type": "imported-skill", "title": "deploy", "scope": "pod", "agent_key": None}

    async def put(number: int) -> PodAsset:
        return await memory.put_asset(live_server.app.kernel, pod, match=match, fields={
            "content": f"version {number}", "created_by_id": alice.id})

    saved = await asyncio.gather(*(put(number) for number in range(6)))
    active = await PodAsset.filter(pod_id=pod.id, status="active", **match)
    assert len(active) == 1 and {asset.id for asset in saved} == {active[0].id}
    await memory.archive_asset(live_server.app.kernel, pod, active[0])
    assert not await PodAsset.filter(pod_id=pod.id, status="active", **match).exists()


async def test_concurrent_generated_batches_leave_one_active(live_server, make_user, make_pod):
    alice = await make_user()
    pod = await get_pod((await make_pod(alice))["id"])

    async def generate(run: int) -> list[PodAsset]:
        return await memory.save_generated(live_server.app.kernel, pod, [
            {"type": "skill", "title": f"run {run} skill {number}", "content": "...", "source_type": "llm"}
            for number in range(2)], replace=Q(type="skill", source_type="llm"))

    batches = await asyncio.gather(*(generate(run) for run in range(4)))
    active = {asset.id for asset in await PodAsset.filter(pod_id=pod.id, type="skill", source_type="llm",
                                                          status="active")}
    assert active in [{asset.id for asset in batch} for batch in batches]


async def test_a_patch_keeps_what_happened_since_the_asset_was_read(live_server, client, make_user, make_pod):
    alice = await make_user()
    pod = await make_pod(alice)
    granted = await _granted(pod, alice)
    kernel = live_server.app.kernel
    assets = f"/api/pods/{pod['id']}/assets"
    made = (await client.post(assets, json={"title": "Runbook", "content": "one"}, headers=alice.headers)).json()
    stale = await PodAsset.get(id=made["id"])
    # Read, then archived and edited by others, then this PATCH lands: both of theirs stay.
    assert (await client.patch(f"{assets}/{made['id']}", json={"status": "archived"},
                               headers=alice.headers)).status_code == 200
    assert (await client.patch(f"{assets}/{made['id']}", json={"content": "two"},
                               headers=alice.headers)).status_code == 200
    updated = await memory.update_asset(kernel, granted, stale, {"title": "Runbook v2"})
    row = await PodAsset.get(id=made["id"])
    assert (row.status, row.title, row.content) == ("archived", "Runbook v2", "two") == (
        updated.status, updated.title, updated.content)
    # Deleted since it was read: 404, nothing written back.
    assert (await client.delete(f"{assets}/{made['id']}", headers=alice.headers)).status_code == 200
    with pytest.raises(NotFound) as gone:
        await memory.update_asset(kernel, granted, stale, {"title": "back again"})
    assert gone.value.code == "asset_not_found" and not await PodAsset.exists(id=made["id"])


async def test_concurrent_archive_and_patches_leave_the_asset_archived(client, make_user, make_pod):
    alice = await make_user()
    pod = await make_pod(alice)
    assets = f"/api/pods/{pod['id']}/assets"
    for round_ in range(3):
        made = (await client.post(assets, json={"title": "t", "content": "c"}, headers=alice.headers)).json()
        url = f"{assets}/{made['id']}"
        patches = [client.patch(url, json={"title": f"title {number}"}, headers=alice.headers) for number in range(4)]
        patches.insert(round_, client.patch(url, json={"status": "archived"}, headers=alice.headers))
        responses = await asyncio.gather(*patches)
        assert [response.status_code for response in responses] == [200] * 5
        assert (await PodAsset.get(id=made["id"])).status == "archived"


async def test_writes_into_a_pod_deleted_meanwhile_are_404(live_server, client, make_user, make_pod):
    alice = await make_user()
    bob = await make_user()
    made = await make_pod(alice)
    granted = await _granted(made, alice)
    kernel = live_server.app.kernel
    assert (await client.delete(f"/api/pods/{made['id']}", headers=alice.headers)).status_code == 200
    writes = [
        memory.create_asset(kernel, granted, {"type": "note", "content": "late"}),
        memory.put_asset(kernel, granted.pod, match={"type": "skill", "title": "late"},
                         fields={"created_by_id": alice.id}),
        memory.save_generated(kernel, granted.pod, [{"type": "skill", "source_type": "llm"}],
                              replace=Q(type="skill")),
        add_member(kernel, granted.pod, bob.id),
    ]
    for write in writes:
        with pytest.raises(NotFound) as gone:
            await write
        assert gone.value.code == "pod_not_found"


async def test_assets_posted_while_the_pod_is_deleted_get_201_or_404(client, make_user, make_pod, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    assets = f"/api/pods/{pod['id']}/assets"
    requests = [client.post(assets, json={"content": f"note {number}"}, headers=alice.headers) for number in range(8)]
    requests.insert(4, client.delete(f"/api/pods/{pod['id']}", headers=alice.headers))
    responses = await asyncio.gather(*requests)
    assert responses.pop(4).status_code == 200
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 404, "pod_not_found")
    assert not await PodAsset.filter(pod_id=pod["id"]).exists()


async def test_a_pod_deletion_waits_for_a_transaction_holding_its_lock(live_server, make_user, make_pod):
    """``lock_pod`` and ``delete_pod`` take the pod row first: a transaction that locked the pod
    and then changes its members finishes before the deletion touches them (in the other order
    each would hold what the other needs: a deadlock, a 500)."""
    alice, bob = await make_user(), await make_user()
    pod = await get_pod((await make_pod(alice))["id"])
    kernel = live_server.app.kernel
    await add_member(kernel, pod, bob.id)
    deleting: asyncio.Task[None] | None = None
    async with transaction():
        assert await lock_pod(pod.id)
        # Another request: a context of its own (a copy of this one would run inside our transaction).
        deleting = asyncio.create_task(delete_pod(kernel, pod), context=contextvars.Context())
        await asyncio.sleep(0.2)  # the deletion has started and waits for the pod row
        await remove_member(kernel, pod, bob.id)  # would wait for the deletion's member locks
        assert not deleting.done()
    await asyncio.wait_for(deleting, timeout=30)
    assert await get_pod(pod.id) is None
