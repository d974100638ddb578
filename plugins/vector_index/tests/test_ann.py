"""Beyond ``COMMONLY_VECTOR_EXACT_MAX`` the approximate (HNSW) index answers, with the same results
contract and scope rules as the exact search."""

from __future__ import annotations

import numpy as np
import pytest
from commonly_vector_index.models import VectorChunk
from commonly_vector_index.state import state_of

from .conftest import FAST


@pytest.fixture
def commonly_settings():
    return {**FAST, "COMMONLY_VECTOR_EXACT_MAX": "10"}


async def test_the_approximate_index_gives_the_exact_answer(client, live_server, make_user, make_agent, make_pod,
                                                            join_pod, make_asset, indexed, search, embedder):
    alice = await make_user()
    pod = await make_pod(alice)
    agent = await make_agent("keeper", scopes=("memory:read", "memory:write"))
    await join_pod(agent, pod)
    for number in range(24):
        await make_asset(alice, pod, title=f"Topic {number}", content=f"Notes about subject {number}: "
                         + ["gardening", "taxes", "football", "databases", "cooking", "travel"][number % 6])
    response = await client.post(f"/api/v1/memory/{pod['id']}", headers=agent.headers,
                                 json={"target": "memory", "content": "The keeper's own notes about cooking."})
    private = response.json()["assetId"]
    await indexed(alice, pod)
    store = state_of(live_server.app.kernel).store
    await search(alice, pod, "warm up")  # loads the pod and starts building the HNSW index
    await store.wait_for_builds()
    assert (await store.snapshot(pod["id"])).ann is not None

    rows = await VectorChunk.filter(pod_id=pod["id"]).values_list("asset_id", "scope", "vector")
    for query in ("preparing dinner recipes", "filing returns", "a trip abroad"):
        vector = embedder.inner.embed([query])[0]
        visible = [(str(asset_id), float(np.frombuffer(blob, "<f4") @ vector))
                   for asset_id, scope, blob in rows if scope == "pod"]
        expected = [asset_id for asset_id, _ in sorted(visible, key=lambda pair: -pair[1])[:5]]
        hits = (await search(alice, pod, query, limit=5)).json()["results"]
        assert [hit["assetId"] for hit in hits] == expected
        assert private not in {hit["assetId"] for hit in hits}
    hits = (await search(agent, pod, "the keeper cooking notes", limit=3)).json()["results"]
    assert hits[0]["assetId"] == private
