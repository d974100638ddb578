"""Each process's in-memory copy of pods' vectors, and the search over it.

A pod's copy (``PodVectors``) is loaded from ``vector_chunk`` and kept until the pod's index
version (``vector_pod_state``, bumped in every chunk write's transaction) moves; then only the
difference is read: chunk rows are never changed in place, so the set of ids tells which rows
are new and which are gone. Every process therefore answers from the same rows.

Rows are appended to growing buffers and removed rows are only marked dead, so a search works on
an immutable ``Snapshot`` (views of the buffers plus its own ``alive`` mask) while the next
refresh appends. Too many dead rows: the pod is reloaded compactly.

Search is exact (one matrix-vector product, numpy) up to ``exact_max`` vectors in a pod. Beyond it,
an HNSW index (faiss, 8-bit scalar-quantised vectors) built in a thread proposes candidates,
which are re-scored exactly against the float32 matrix: scores are true cosines either way.
Until the HNSW index is built (minutes at a million vectors), searches stay exact.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .models import VectorChunk, VectorPodState

log = logging.getLogger("commonly.vector_index")

LOAD_BATCH = 5000
#: Reload compactly once this share of a copy's rows are dead.
DEAD_SHARE = 0.25


class Ann:
    """An HNSW index over rows ``[0, rows)`` of a pod's matrix (faiss ``IndexHNSWSQ``, 8-bit)."""

    def __init__(self, dims: int) -> None:
        import faiss

        self.index = faiss.IndexHNSWSQ(dims, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 128
        self.rows = 0
        self.lock = threading.Lock()

    def build(self, matrix: np.ndarray) -> None:
        sample = matrix[:: max(1, len(matrix) // 50_000)]
        self.index.train(np.ascontiguousarray(sample))
        self.add(matrix)

    def add(self, rows: np.ndarray) -> None:
        with self.lock:
            self.index.add(np.ascontiguousarray(rows))
            self.rows += len(rows)

    def candidates(self, query: np.ndarray, allowed: np.ndarray, k: int, ef: int) -> np.ndarray:
        import faiss

        bits = np.packbits(allowed[: self.rows], bitorder="little")
        selector = faiss.IDSelectorBitmap(self.rows, faiss.swig_ptr(bits))
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef, k))
        with self.lock:
            _, found = self.index.search(query[None, :], k, params=params)
        found = found[0]
        return found[found >= 0]


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of one pod's vectors for one search."""

    version: int
    ids: np.ndarray         # chunk ids (int64)
    matrix: np.ndarray      # (n, dims) float32, unit rows
    asset_ids: np.ndarray   # int64
    owners: np.ndarray      # int32: 0 = pod scope, k = the k-th agent key
    type_codes: np.ndarray  # int32 into ``types``
    alive: np.ndarray       # bool
    owner_codes: dict[str, int]
    type_names: dict[str, int]
    ann: Ann | None

    @property
    def count(self) -> int:
        return int(self.alive.sum())


@dataclass
class PodVectors:
    """The growing buffers behind a pod's snapshots."""

    dims: int
    version: int = -1
    size: int = 0
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    asset_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    owners: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    type_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    rows: dict[int, int] = field(default_factory=dict)   # chunk id -> row
    owner_codes: dict[str, int] = field(default_factory=dict)
    type_names: dict[str, int] = field(default_factory=dict)
    ann: Ann | None = None
    building: bool = False

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        """Add rows ``(id, asset_id, asset_type, scope, agent_key, vector bytes)``."""
        rows = [row for row in rows if row[5] is not None and len(row[5]) == 4 * self.dims]
        if not rows:
            return
        need = self.size + len(rows)
        if need > len(self.ids):
            self._grow(max(need, len(self.ids) + len(self.ids) // 4, 1024))  # +25 %: a big pod stays near its size
        start = self.size
        vectors = np.frombuffer(b"".join(row[5] for row in rows), dtype="<f4").reshape(len(rows), self.dims)
        self.matrix[start:need] = vectors
        for offset, (chunk_id, asset_id, asset_type, scope, agent_key, _) in enumerate(rows):
            row = start + offset
            self.ids[row] = chunk_id
            self.asset_ids[row] = asset_id
            self.owners[row] = 0 if scope == "pod" else self.owner_codes.setdefault(
                agent_key or "", len(self.owner_codes) + 1)
            self.type_codes[row] = self.type_names.setdefault(asset_type, len(self.type_names))
            self.rows[chunk_id] = row
        self.alive[start:need] = True
        self.size = need

    def _grow(self, capacity: int) -> None:
        def grown(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
            bigger = np.zeros(shape, dtype=array.dtype)
            bigger[: self.size] = array[: self.size]
            return bigger

        self.ids = grown(self.ids, (capacity,))
        self.matrix = grown(self.matrix if self.matrix.size else np.zeros((0, self.dims), np.float32),
                            (capacity, self.dims))
        self.asset_ids = grown(self.asset_ids, (capacity,))
        self.owners = grown(self.owners, (capacity,))
        self.type_codes = grown(self.type_codes, (capacity,))
        self.alive = grown(self.alive, (capacity,))

    def remove(self, chunk_ids: set[int]) -> None:
        for chunk_id in chunk_ids:
            row = self.rows.pop(chunk_id, None)
            if row is not None:
                self.alive[row] = False

    @property
    def dead(self) -> int:
        return self.size - len(self.rows)

    def snapshot(self) -> Snapshot:
        n = self.size
        return Snapshot(self.version, self.ids[:n], self.matrix[:n], self.asset_ids[:n], self.owners[:n],
                        self.type_codes[:n], self.alive[:n].copy(), dict(self.owner_codes), dict(self.type_names),
                        self.ann)


async def pod_version(pod_id: str) -> int:
    versions = await VectorPodState.filter(pod_id=pod_id).values_list("version", flat=True)
    return int(versions[0]) if versions else 0


async def _load_rows(pod_id: str, ids: list[int] | None) -> list[tuple[Any, ...]]:
    columns = ("id", "asset_id", "asset_type", "scope", "agent_key", "vector")
    if ids is None:
        return [tuple(row) for row in await VectorChunk.filter(pod_id=pod_id, vector__not_isnull=True)
                .order_by("id").values_list(*columns)]
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), LOAD_BATCH):
        part = ids[start:start + LOAD_BATCH]
        rows.extend(tuple(row) for row in await VectorChunk.filter(id__in=part).order_by("id").values_list(*columns))
    return rows


class VectorStore:
    """Pods' vectors in this process: at most ``max_pods``, least recently used dropped."""

    def __init__(self, dims_of: Any, *, max_pods: int = 64, exact_max: int = 200_000, ann_ef: int = 256) -> None:
        self._dims_of = dims_of   # () -> the embedder's dimensions
        self._pods: OrderedDict[str, PodVectors] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.max_pods = max_pods
        self.exact_max = exact_max
        self.ann_ef = ann_ef
        self._builds: set[asyncio.Task[None]] = set()

    def forget(self, pod_id: str) -> None:
        self._pods.pop(pod_id, None)

    async def snapshot(self, pod_id: str) -> Snapshot:
        """The pod's vectors as of its current index version."""
        version = await pod_version(pod_id)
        cached = self._pods.get(pod_id)
        if cached is not None and cached.version == version:
            self._pods.move_to_end(pod_id)
            return cached.snapshot()
        lock = self._locks.setdefault(pod_id, asyncio.Lock())
        async with lock:
            cached = self._pods.get(pod_id)
            if cached is None or cached.version != version:
                cached = await self._refresh(pod_id, cached)
            self._pods[pod_id] = cached
            self._pods.move_to_end(pod_id)
            while len(self._pods) > self.max_pods:
                dropped, _ = self._pods.popitem(last=False)
                self._locks.pop(dropped, None)
            return cached.snapshot()

    async def _refresh(self, pod_id: str, cached: PodVectors | None) -> PodVectors:
        # The version is read before the rows: a write racing this load moves it again, and the
        # next search reloads.
        version = await pod_version(pod_id)
        dims = self._dims_of()
        if cached is None or cached.dims != dims or cached.dead > DEAD_SHARE * max(cached.size, 1):
            vectors = PodVectors(dims)
            vectors.append(await _load_rows(pod_id, None))
        else:
            vectors = cached
            current = set(await VectorChunk.filter(pod_id=pod_id, vector__not_isnull=True).values_list("id", flat=True))
            known = set(vectors.rows)
            vectors.remove(known - current)
            added = sorted(current - known)
            if added:
                vectors.append(await _load_rows(pod_id, added))
            if vectors.ann is not None and vectors.ann.rows < vectors.size:
                tail = vectors.matrix[vectors.ann.rows: vectors.size]
                if len(tail) < 2000:
                    vectors.ann.add(tail)
                else:
                    await asyncio.to_thread(vectors.ann.add, tail)
        vectors.version = version
        if vectors.ann is None and not vectors.building and len(vectors.rows) > self.exact_max:
            self._start_build(pod_id, vectors)
        return vectors

    def _start_build(self, pod_id: str, vectors: PodVectors) -> None:
        vectors.building = True
        rows = vectors.size
        matrix = vectors.matrix[:rows]

        async def build() -> None:
            try:
                ann = Ann(vectors.dims)
                await asyncio.to_thread(ann.build, matrix)
                if vectors.size > rows:
                    await asyncio.to_thread(ann.add, vectors.matrix[rows: vectors.size])
                vectors.ann = ann
                log.info("vector index: approximate index of pod %s built (%d vectors)", pod_id, ann.rows)
            except Exception:
                log.exception("vector index: building the approximate index of pod %s failed", pod_id)
            finally:
                vectors.building = False

        task = asyncio.get_running_loop().create_task(build(), name=f"vector-ann:{pod_id}")
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)

    async def wait_for_builds(self) -> None:
        """Wait for approximate indexes being built (benchmarks, tests)."""
        while self._builds:
            await asyncio.gather(*list(self._builds), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._builds):
            task.cancel()
        self._pods.clear()


def allowed_rows(snapshot: Snapshot, owner_key: str | None, types: list[str] | None) -> np.ndarray:
    """Rows the caller may see (pod scope, plus its own agent key) of the wanted types."""
    allowed = snapshot.alive & (snapshot.owners == 0)
    if owner_key is not None and owner_key in snapshot.owner_codes:
        allowed |= snapshot.alive & (snapshot.owners == snapshot.owner_codes[owner_key])
    if types:
        codes = [snapshot.type_names[name] for name in types if name in snapshot.type_names]
        allowed &= np.isin(snapshot.type_codes, np.array(codes, dtype=np.int32))
    return allowed


def top_rows(snapshot: Snapshot, query: np.ndarray, allowed: np.ndarray, k: int, ef: int) -> list[tuple[int, float]]:
    """The ``k`` best allowed rows as ``(row, cosine)``, best first. Blocking: run it in a thread."""
    if k <= 0 or not allowed.any():
        return []
    ann = snapshot.ann
    if ann is not None and ann.rows > 0 and int(allowed[: ann.rows].sum()) > 4 * k:
        rows = ann.candidates(query, allowed, max(4 * k, 40), ef)
        tail = np.flatnonzero(allowed[ann.rows:]) + ann.rows
        rows = np.concatenate([rows.astype(np.int64), tail])
        scores = snapshot.matrix[rows] @ query
    else:
        rows = np.flatnonzero(allowed)
        scores = snapshot.matrix @ query if len(rows) > len(allowed) // 4 else snapshot.matrix[rows] @ query
        if len(scores) == len(allowed):
            scores = scores[rows]
    best = np.argpartition(-scores, k - 1)[:k] if len(rows) > k else np.arange(len(rows))
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(rows[i]), float(scores[i])) for i in best]
