"""The vector index's logic: search, stats and rebuilds. Routes, hooks and the CLI call these."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from commonly_pods import Pod, PodAsset, agent_key, visible_filter

from commonly_kernel import Actor, HTTPError

from . import indexer
from .models import FAILED, JOB_INDEX, QUEUED, RUNNING, VectorChunk, VectorJob
from .state import VectorState
from .store import allowed_rows, top_rows

log = logging.getLogger("commonly.vector_index")
WORD = re.compile(r"[a-z0-9][a-z0-9_-]{2,}")
SNIPPET_CHARS = 240


class IndexUnavailable(HTTPError):
    status, code, default_message = 503, "index_unavailable", "The embedding model cannot be loaded here."


def owner_key(actor: Actor, pod_id: object) -> str | None:
    """The agent key whose agent-scoped memory ``actor`` may see in this pod (the pods plugin's rule:
    an agent sees its own instance's memory when its token may ``memory:read``; people never)."""
    key = agent_key(actor)
    return key if key and actor.allows("memory:read", pod_id) else None


def keyword_score(query_words: set[str], text: str) -> float:
    if not query_words:
        return 0.0
    return len(query_words & set(WORD.findall(text.lower()))) / len(query_words)


@dataclass
class Hit:
    asset_id: int
    chunk_index: int
    title: str
    snippet: str
    score: float
    type: str
    tags: list[str]
    created_at: Any

    def as_result(self) -> dict[str, Any]:
        """The index search's result shape."""
        return {"assetId": str(self.asset_id), "chunkIndex": self.chunk_index, "title": self.title,
                "snippet": self.snippet, "score": round(self.score, 4), "type": self.type, "tags": self.tags}

    def as_context_result(self) -> dict[str, Any]:
        """The shape of ``GET /api/pods/:id/context/search``."""
        return {"assetId": str(self.asset_id), "title": self.title, "type": self.type, "tags": self.tags,
                "score": round(self.score, 4), "snippet": self.snippet, "createdAt": self.created_at}


def snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rstrip() + "…"


async def search(state: VectorState, pod: Pod, actor: Actor, text: str, *, limit: int,
                 types: list[str] | None = None, hybrid: bool = False, per_asset: bool = False,
                 exclude_types: frozenset[str] = frozenset()) -> list[Hit]:
    """The pod's chunks closest to ``text`` that ``actor`` may see, best first (``per_asset``: the
    best chunk of each asset). The caller has checked that ``actor`` may read ``pod``."""
    if not state.available():
        raise IndexUnavailable()
    pod_id = str(pod.id)
    snapshot = await state.store.snapshot(pod_id)
    key = owner_key(actor, pod.id)
    allowed = allowed_rows(snapshot, key, types)
    if exclude_types:
        for name in exclude_types:
            code = snapshot.type_names.get(name)
            if code is not None:
                allowed &= snapshot.type_codes != code
    if not allowed.any():
        return []
    try:
        query = (await state.runner().embed([text], query=True))[0]
    except Exception as error:  # the model would not load or run: say so, as for a missing model
        log.exception("vector index: embedding a query failed")
        raise IndexUnavailable("The embedding model failed; see the server log.") from error
    # Fetch more than asked: rows of assets deleted a moment ago, and chunks of one asset (per_asset).
    fetch = limit * (5 if hybrid or per_asset else 2) + 10
    rows = await asyncio.to_thread(top_rows, snapshot, query, allowed, fetch, state.config.ann_ef)
    if not rows:
        return []
    chunk_ids = [int(snapshot.ids[row]) for row, _ in rows]
    chunks = {row["id"]: row for row in await VectorChunk.filter(id__in=chunk_ids).values(
        "id", "asset_id", "chunk_index", "text")}
    asset_ids = {chunk["asset_id"] for chunk in chunks.values()}
    # The live assets decide: an asset deleted, archived or out of the caller's scope is left out.
    assets = {row["id"]: row for row in await PodAsset.filter(
        visible_filter(actor, pod.id), pod_id=pod.id, id__in=list(asset_ids), status="active",
    ).values("id", "title", "type", "tags", "created_at")}
    weight = state.config.hybrid_weight if hybrid else 0.0
    query_words = set(WORD.findall(text.lower()))
    hits: list[Hit] = []
    for chunk_id, (_, cosine) in zip(chunk_ids, rows, strict=True):
        chunk = chunks.get(chunk_id)
        asset = assets.get(chunk["asset_id"]) if chunk else None
        if chunk is None or asset is None:
            continue
        score = cosine
        if weight:
            score = (1 - weight) * cosine + weight * keyword_score(query_words, f"{asset['title']} {chunk['text']}")
        hits.append(Hit(asset["id"], chunk["chunk_index"], asset["title"], snippet(chunk["text"] or asset["title"]),
                        score, asset["type"], [str(tag) for tag in asset["tags"] or []], asset["created_at"]))
    hits.sort(key=lambda hit: -hit.score)
    if per_asset:
        best: dict[int, Hit] = {}
        for hit in hits:  # best first: the first hit of an asset is its best chunk
            best.setdefault(hit.asset_id, hit)
        hits = list(best.values())
    return hits[:limit]


async def has_vectors(state: VectorState, pod: Pod) -> bool:
    snapshot = await state.store.snapshot(str(pod.id))
    return bool(snapshot.alive.any())


async def stats(state: VectorState, pod_id: str) -> dict[str, Any]:
    embedder = state.embedder()
    # The queue first: a job leaves it only after its chunks are committed, so pending == 0 here
    # means the counts below include everything queued before.
    waiting = await indexer.pending(pod_id)
    failed = await VectorJob.filter(pod_id=pod_id, status=FAILED).count()
    chunks = await VectorChunk.filter(pod_id=pod_id).count()
    embeddings = await VectorChunk.filter(pod_id=pod_id, vector__not_isnull=True).count()
    assets = len(await VectorChunk.filter(pod_id=pod_id).distinct().values_list("asset_id", flat=True))
    return {
        "available": state.available(), "chunks": chunks, "assets": assets, "embeddings": embeddings,
        "model": embedder.name, "dimensions": embedder.dimensions, "pending": waiting,
        "failed": failed,
    }


async def active_asset_ids(pod_id: str) -> list[int]:
    return list(await PodAsset.filter(pod_id=pod_id, status="active").order_by("id").values_list("id", flat=True))


async def rebuild(state: VectorState, pods: list[Pod], *, reset: bool) -> dict[str, Any]:
    """Queue every active asset of ``pods`` (after dropping their vectors with ``reset``) and wait
    up to ``COMMONLY_VECTOR_REBUILD_WAIT`` seconds for the queue. ``done`` says whether it finished."""
    pod_ids = [str(pod.id) for pod in pods]
    total = 0
    for pod_id in pod_ids:
        if reset:
            await VectorJob.filter(pod_id=pod_id, status__in=[QUEUED, FAILED]).delete()
            await indexer.drop_pod(pod_id)
        else:
            await VectorJob.filter(pod_id=pod_id, status=FAILED).delete()
        ids = await active_asset_ids(pod_id)
        total += await indexer.enqueue(JOB_INDEX, pod_id, ids)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.config.rebuild_wait
    while True:
        remaining = await VectorJob.filter(pod_id__in=pod_ids, status__in=[QUEUED, RUNNING]).count() if pod_ids else 0
        if remaining == 0 or loop.time() >= deadline:
            break
        await asyncio.sleep(0.05)
    errors = await VectorJob.filter(pod_id__in=pod_ids, status=FAILED).count() if pod_ids else 0
    return {"indexed": max(total - remaining - errors, 0), "errors": errors, "total": total, "reset": reset,
            "pending": remaining, "done": remaining == 0}
