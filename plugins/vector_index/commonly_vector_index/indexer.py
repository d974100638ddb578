"""The durable indexing queue and the worker that drains it.

The pods plugin's asset hooks add ``vector_job`` rows (``enqueue``); a request never waits for the
model. A worker task in each server process (unless ``COMMONLY_VECTOR_WORKER=0``) claims jobs in
batches with one conditional UPDATE (so two processes never take the same job), embeds every
claimed asset's chunks in one batched model call in a thread, and writes the results in one
transaction, bumping each touched pod's index version. While batch *k* is written, batch *k+1* is
already claimed and embedding.

A claim is a lease: a worker that dies leaves its jobs to be taken over after
``COMMONLY_VECTOR_LEASE_SECONDS``; a clean shutdown hands them back at once. Each claim counts as
an attempt; a failing job is retried with a growing delay and marked ``failed`` (with its error)
after ``COMMONLY_VECTOR_MAX_ATTEMPTS`` tries. A restart resumes whatever is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from commonly_pods import PodAsset
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from commonly_kernel import lock_until_commit

from .chunking import chunk
from .models import FAILED, JOB_DROP_POD, JOB_INDEX, QUEUED, RUNNING, VectorChunk, VectorJob, VectorPodState

if TYPE_CHECKING:
    from .state import VectorState

log = logging.getLogger("commonly.vector_index")

#: Workers of this process, woken when a job is queued here (others poll).
_workers: weakref.WeakSet[Worker] = weakref.WeakSet()
#: How long a failed job waits before its next try: RETRY_BASE · 2^(attempts-1), at most RETRY_MAX.
RETRY_MAX = 3600.0


def now() -> datetime:
    return datetime.now(UTC)


# -- the queue ---------------------------------------------------------------------------------


async def enqueue(kind: str, pod_id: str, asset_ids: Iterable[int] = (), *, wake: bool = True) -> int:
    """Queue work; a queued (not yet running) or failed job for the same asset is superseded."""
    ids = list(dict.fromkeys(int(asset_id) for asset_id in asset_ids))
    if kind == JOB_DROP_POD:
        await VectorJob.filter(pod_id=pod_id, status__in=[QUEUED, FAILED]).delete()
        await VectorJob.create(kind=kind, pod_id=pod_id, available_at=now())
        count = 1
    else:
        for start in range(0, len(ids), 500):
            await VectorJob.filter(asset_id__in=ids[start:start + 500], status__in=[QUEUED, FAILED]).delete()
        await VectorJob.bulk_create([VectorJob(kind=kind, pod_id=pod_id, asset_id=asset_id, available_at=now())
                                     for asset_id in ids], batch_size=500)
        count = len(ids)
    if wake:
        for worker in list(_workers):
            worker.wake()
    return count


async def pending(pod_id: str | None = None) -> int:
    """Jobs queued or running (of one pod, or all)."""
    query = VectorJob.filter(status__in=[QUEUED, RUNNING])
    return await (query.filter(pod_id=pod_id) if pod_id else query).count()


async def bump(pod_ids: Iterable[str]) -> None:
    """Move pods' index versions (inside the caller's transaction)."""
    for pod_id in sorted(set(pod_ids)):
        if not await VectorPodState.filter(pod_id=pod_id).update(version=F("version") + 1):
            try:
                async with in_transaction():
                    await VectorPodState.create(pod_id=pod_id, version=1)
            except IntegrityError:  # created meanwhile by another writer
                await VectorPodState.filter(pod_id=pod_id).update(version=F("version") + 1)


async def drop_asset(asset_id: int, pod_id: str) -> None:
    async with in_transaction() as transaction:
        await lock_until_commit(transaction, f"vector.asset:{asset_id}")  # after a write in progress
        if await VectorChunk.filter(asset_id=asset_id).delete():
            await bump([pod_id])


async def drop_pod(pod_id: str) -> None:
    async with in_transaction():
        await VectorChunk.filter(pod_id=pod_id).delete()
        await bump([pod_id])


# -- indexing (shared by the worker and the CLI) -------------------------------------------------


@dataclass
class Prepared:
    """Assets of one batch with their chunks, ready to embed."""

    assets: dict[int, PodAsset] = field(default_factory=dict)
    chunks: dict[int, list[Any]] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)       # missing or archived: drop their chunks

    @property
    def texts(self) -> list[str]:
        return [piece.embedded for pieces in self.chunks.values() for piece in pieces]


async def prepare(asset_ids: list[int], *, size: int, overlap: int) -> Prepared:
    prepared = Prepared()
    found = {asset.id: asset for asset in await PodAsset.filter(id__in=asset_ids)} if asset_ids else {}
    for asset_id in asset_ids:
        asset = found.get(asset_id)
        if asset is None or asset.status != "active":
            prepared.gone.add(asset_id)
            continue
        prepared.assets[asset_id] = asset
        prepared.chunks[asset_id] = chunk(asset.title, asset.content, size=size, overlap=overlap)
    return prepared


async def write(prepared: Prepared, vectors: np.ndarray, model: str, extra_pods: Iterable[str] = ()) -> None:
    """Replace the chunks of the prepared assets (and drop the gone ones) in one transaction."""
    rows = []
    position = 0
    async with in_transaction() as transaction:
        # A running and a queued job of one asset may be written by two workers at once: the second
        # waits for the first's commit, so its delete sees (and removes) those chunks. Id order:
        # two batches sharing assets cannot deadlock.
        for asset_id in sorted({*prepared.assets, *prepared.gone}):
            await lock_until_commit(transaction, f"vector.asset:{asset_id}")
        live, edited = await _still_as_prepared(prepared)
        for asset_id, pieces in prepared.chunks.items():
            asset = prepared.assets[asset_id]
            for piece in pieces:
                if asset_id in live:
                    rows.append(VectorChunk(
                        pod_id=str(asset.pod_id), asset_id=asset_id, chunk_index=piece.index, asset_type=asset.type,
                        scope=asset.scope, agent_key=asset.agent_key, title=asset.title[:300], text=piece.text,
                        vector=vectors[position].astype("<f4").tobytes(), model=model[:200],
                    ))
                position += 1
        touched = [asset_id for asset_id in [*prepared.assets, *prepared.gone] if asset_id not in edited]
        pods = {str(asset.pod_id) for asset in prepared.assets.values()} | set(extra_pods)
        if touched:
            pods |= set(await VectorChunk.filter(asset_id__in=touched).distinct().values_list("pod_id", flat=True))
            await VectorChunk.filter(asset_id__in=touched).delete()
        if rows:
            await VectorChunk.bulk_create(rows, batch_size=200)
        await bump(pods)


async def _still_as_prepared(prepared: Prepared) -> tuple[set[int], set[int]]:
    """Under the assets' locks: which prepared assets are still active as they were read (their
    chunks are written), and which were edited or brought back since. The edited ones are left
    alone: the edit queued a newer job, which may already have written them; an older job landing
    last must not put stale text back. An asset deleted meanwhile is in neither: its chunks go."""
    ids = [*prepared.assets, *prepared.gone]
    active = dict(await PodAsset.filter(id__in=ids, status="active").values_list("id", "updated_at")) if ids else {}
    live = {asset_id for asset_id, asset in prepared.assets.items() if active.get(asset_id) == asset.updated_at}
    return live, set(active) - live


# -- the worker ----------------------------------------------------------------------------------


@dataclass
class Claimed:
    token: str
    jobs: list[VectorJob]


class Worker:
    """Drains the queue in this process until ``stop``."""

    def __init__(self, state: VectorState) -> None:
        self.state = state
        self.config = state.config
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._claims: set[str] = set()
        self.processed = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        _workers.add(self)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="vector-index-worker")

    async def stop(self) -> None:
        _workers.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        # Hand back what this process had claimed but not finished: not a failed attempt.
        for token in list(self._claims):
            await VectorJob.filter(claimed_by=token, status=RUNNING).update(
                status=QUEUED, claimed_by=None, lease_until=None, attempts=F("attempts") - 1)
        self._claims.clear()

    async def _run(self) -> None:
        writing: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    claimed = await self.claim()
                except Exception:
                    log.exception("vector index: claiming jobs failed")
                    claimed = None
                if claimed is None:
                    if writing is not None:
                        await writing
                        writing = None
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.config.poll_seconds)
                    continue
                embedded = await self._embed(claimed)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._finish(claimed, *embedded)) if embedded else None
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writing

    async def claim(self) -> Claimed | None:
        moment = now()
        due = Q(status=QUEUED, available_at__lte=moment) | Q(status=RUNNING, lease_until__lt=moment)
        ids = await VectorJob.filter(due).order_by("id").limit(self.config.jobs_per_batch).values_list("id", flat=True)
        if not ids:
            return None
        token = uuid.uuid4().hex
        await VectorJob.filter(Q(id__in=list(ids)) & due).update(
            status=RUNNING, claimed_by=token, lease_until=moment + timedelta(seconds=self.config.lease_seconds),
            attempts=F("attempts") + 1)
        jobs = await VectorJob.filter(claimed_by=token).order_by("id")
        if not jobs:
            return None
        self._claims.add(token)
        return Claimed(token, jobs)

    async def _embed(self, claimed: Claimed) -> tuple[Prepared, np.ndarray] | None:
        """Drops are done at once; index jobs are prepared and embedded (None: the batch failed)."""
        index_jobs = [job for job in claimed.jobs if job.kind == JOB_INDEX]
        for job in claimed.jobs:
            if job.kind == JOB_INDEX:
                continue
            try:
                if job.kind == JOB_DROP_POD:
                    await drop_pod(job.pod_id)
                    self.state.store.forget(job.pod_id)
                else:
                    await drop_asset(int(job.asset_id or 0), job.pod_id)
                await self._done([job], claimed.token)
            except Exception as error:
                await self._failed([job], claimed.token, error)
        if not index_jobs:
            self._claims.discard(claimed.token)
            return None
        claimed.jobs = index_jobs
        try:
            prepared = await prepare([int(job.asset_id or 0) for job in index_jobs],
                                     size=self.config.chunk_words, overlap=self.config.chunk_overlap)
        except Exception as error:
            await self._failed(index_jobs, claimed.token, error)
            self._claims.discard(claimed.token)
            return None
        try:
            vectors = await self.state.runner().embed(prepared.texts)
        except Exception as error:
            log.warning("vector index: embedding a batch of %d assets failed (%s); one by one now",
                        len(index_jobs), error)
            return await self._embed_one_by_one(claimed, prepared)
        return prepared, vectors

    async def _embed_one_by_one(self, claimed: Claimed, prepared: Prepared) -> tuple[Prepared, np.ndarray] | None:
        """After a batch failed to embed: each asset alone, so one bad asset fails only its own job."""
        kept, parts = Prepared(gone=set(prepared.gone)), []
        survivors = []
        for job in claimed.jobs:
            asset_id = int(job.asset_id or 0)
            if asset_id not in prepared.assets:
                survivors.append(job)
                continue
            try:
                part = await self.state.runner().embed([piece.embedded for piece in prepared.chunks[asset_id]])
            except Exception as error:
                await self._failed([job], claimed.token, error)
                continue
            kept.assets[asset_id] = prepared.assets[asset_id]
            kept.chunks[asset_id] = prepared.chunks[asset_id]
            parts.append(part)
            survivors.append(job)
        if not survivors:
            self._claims.discard(claimed.token)
            return None
        claimed.jobs = survivors
        dims = self.state.embedder().dimensions
        return kept, np.concatenate(parts) if parts else np.zeros((0, dims), dtype=np.float32)

    async def _finish(self, claimed: Claimed, prepared: Prepared, vectors: np.ndarray) -> None:
        try:
            try:
                await write(prepared, vectors, self.state.embedder().name)
                await self._done(claimed.jobs, claimed.token)
            except Exception:
                # One bad asset must not sink the batch: write them one by one.
                await self._finish_one_by_one(claimed, prepared, vectors)
        finally:
            self._claims.discard(claimed.token)

    async def _finish_one_by_one(self, claimed: Claimed, prepared: Prepared, vectors: np.ndarray) -> None:
        offsets, position = {}, 0
        for asset_id, pieces in prepared.chunks.items():
            offsets[asset_id] = (position, position + len(pieces))
            position += len(pieces)
        for job in claimed.jobs:
            asset_id = int(job.asset_id or 0)
            single = Prepared()
            if asset_id in prepared.assets:
                single.assets[asset_id] = prepared.assets[asset_id]
                single.chunks[asset_id] = prepared.chunks[asset_id]
                start, end = offsets[asset_id]
                part = vectors[start:end]
            else:
                single.gone.add(asset_id)
                part = vectors[:0]
            try:
                await write(single, part, self.state.embedder().name, extra_pods=[job.pod_id])
                await self._done([job], claimed.token)
            except Exception as error:
                await self._failed([job], claimed.token, error)

    async def _done(self, jobs: list[VectorJob], token: str) -> None:
        await VectorJob.filter(id__in=[job.id for job in jobs], claimed_by=token).delete()
        self.processed += len(jobs)

    async def _failed(self, jobs: list[VectorJob], token: str, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"[:2000]
        for job in jobs:
            attempts = job.attempts  # already counts this try
            if attempts >= self.config.max_attempts:
                await VectorJob.filter(id=job.id, claimed_by=token).update(
                    status=FAILED, last_error=message, lease_until=None)
                log.error("vector index: job %s (%s asset %s) failed %d times, giving up: %s",
                          job.id, job.kind, job.asset_id, attempts, message)
            else:
                delay = min(self.config.retry_seconds * 2 ** (attempts - 1), RETRY_MAX)
                await VectorJob.filter(id=job.id, claimed_by=token).update(
                    status=QUEUED, last_error=message, claimed_by=None, lease_until=None,
                    available_at=now() + timedelta(seconds=delay))
