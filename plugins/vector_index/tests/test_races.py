"""Two workers writing one asset's chunks at once (a running and a queued job of the same asset):
one writer's chunk set survives, never both.

The writes run in this process; on PostgreSQL each transaction takes its own pooled connection, so
they interleave as two server processes would. No worker runs (the test drives ``write`` itself),
and the vectors are zeros: which numbers they hold does not matter to who wins."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from commonly_vector_index import indexer
from commonly_vector_index.models import VectorChunk

from .conftest import FAST

CHUNK_WORDS, OVERLAP = 40, 8
DIMENSIONS = 384  # the bundled model's; not loaded here


@pytest.fixture
def commonly_settings() -> dict[str, Any]:
    return {**FAST, "COMMONLY_VECTOR_WORKER": "0"}


async def test_concurrent_writes_of_one_asset_leave_one_chunk_set(make_user, make_pod, make_asset):
    alice = await make_user()
    pod = await make_pod(alice)
    text = " ".join(f"word{number}" for number in range(100))
    asset = await make_asset(alice, pod, title="Long note", content=text)
    asset_id = int(asset["id"])

    async def write(model: str) -> None:
        prepared = await indexer.prepare([asset_id], size=CHUNK_WORDS, overlap=OVERLAP)
        vectors = np.zeros((len(prepared.texts), DIMENSIONS), dtype=np.float32)
        await indexer.write(prepared, vectors, model)

    expected = len((await indexer.prepare([asset_id], size=CHUNK_WORDS, overlap=OVERLAP)).texts)
    assert expected > 1
    for round_ in range(3):
        await asyncio.gather(*(write(f"writer-{round_}-{number}") for number in range(3)))
        chunks = await VectorChunk.filter(asset_id=asset_id).order_by("chunk_index")
        assert [chunk.chunk_index for chunk in chunks] == list(range(expected))
        assert len({chunk.model for chunk in chunks}) == 1  # all from one writer


async def test_an_older_job_landing_last_keeps_the_newer_text(make_user, make_pod, make_asset):
    """A worker embeds version 1 while the asset is edited and another worker writes version 2:
    version 1's late write leaves version 2's chunks as they are (the edit queued its own job)."""
    from commonly_pods.models import PodAsset

    alice = await make_user()
    pod = await make_pod(alice)
    asset = await make_asset(alice, pod, title="Note", content="the first version")
    asset_id = int(asset["id"])

    async def write(prepared: indexer.Prepared, model: str) -> None:
        await indexer.write(prepared, np.zeros((len(prepared.texts), DIMENSIONS), dtype=np.float32), model)

    older = await indexer.prepare([asset_id], size=CHUNK_WORDS, overlap=OVERLAP)
    stored = await PodAsset.get(id=asset_id)
    stored.content = "the second version"
    await stored.save()  # as the PATCH of another process would
    await write(await indexer.prepare([asset_id], size=CHUNK_WORDS, overlap=OVERLAP), "newer")
    await write(older, "older")

    chunks = await VectorChunk.filter(asset_id=asset_id)
    assert {chunk.model for chunk in chunks} == {"newer"}
    assert all("second version" in chunk.text for chunk in chunks)
