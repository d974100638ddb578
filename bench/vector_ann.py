"""Approximate nearest neighbours for the vector index: usearch, hnswlib and faiss-cpu (HNSW) side by side
on the same synthetic embeddings, against exact numpy brute force.

    .venv/bin/python bench/vector_ann.py --n 100000 --libs usearch,hnswlib,faiss     # the comparison
    .venv/bin/python bench/vector_ann.py --n 1000000 --libs plugin --ef 64,128,256   # the plugin's path at 1M

``faiss`` / ``faiss-sq8`` use faiss-cpu (in requirements.txt); ``plugin`` is the vector index's own code
(``store.Ann`` + ``store.top_rows``: faiss HNSW-SQ8 with the scope selector and exact re-scoring). usearch
and hnswlib are not installed by ``make install``: ``.venv/bin/pip install usearch==2.26.6 hnswlib==0.8.0``
to repeat the comparison (hnswlib 0.8.0 has no wheel here: it compiles from source).

The vectors are 384-dimensional, L2-normalised float32, drawn around 2,000 random centres (clustered like
real sentence embeddings; uniformly random vectors have no near neighbours worth finding). Queries are new
points drawn the same way, not members of the set. Recall@10 is measured against exact top-10 (numpy matmul);
latency is one query at a time (what a search request does). Memory is the process RSS growth while the
index is built, beside the raw float32 matrix (384 x 4 bytes a vector). Results go to
``bench/results/vector_ann-<time>.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

DIM = 384
K = 10
RESULTS = Path(__file__).parent / "results"


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic(n: int, seed: int, centres: int = 2000, spread: float = 0.06) -> np.ndarray:
    """``n`` normalised vectors around ``centres`` random directions (deterministic for ``seed``)."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(12345).standard_normal((centres, DIM), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    out = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        count = min(step, n - start)
        picks = rng.integers(0, centres, count)
        block = base[picks] + rng.standard_normal((count, DIM), dtype=np.float32) * spread
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + count] = block
    return out


def exact_top(data: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    tops, times = [], []
    for query in queries:
        started = time.perf_counter()
        scores = data @ query
        part = np.argpartition(-scores, K)[:K]
        tops.append(part[np.argsort(-scores[part])])
        times.append(time.perf_counter() - started)
    return np.array(tops), times


def build_usearch(data: np.ndarray, dtype: str = "f32") -> object:
    from usearch.index import Index

    index = Index(ndim=DIM, metric="ip", dtype=dtype, connectivity=16, expansion_add=128, expansion_search=64)
    index.add(np.arange(len(data), dtype=np.uint64), data, threads=2)
    return index


def query_usearch(index: object, query: np.ndarray, ef: int) -> np.ndarray:
    index.expansion_search = ef  # type: ignore[attr-defined]
    return index.search(query, K).keys  # type: ignore[attr-defined]


def build_hnswlib(data: np.ndarray) -> object:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=DIM)
    index.init_index(max_elements=len(data), ef_construction=128, M=16)
    index.set_num_threads(2)
    index.add_items(data, np.arange(len(data)))
    return index


def query_hnswlib(index: object, query: np.ndarray, ef: int) -> np.ndarray:
    index.set_ef(ef)  # type: ignore[attr-defined]
    index.set_num_threads(1)  # type: ignore[attr-defined]
    return index.knn_query(query, k=K)[0][0]  # type: ignore[attr-defined]


def build_faiss(data: np.ndarray) -> object:
    import faiss

    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(data)
    return index


def query_faiss(index: object, query: np.ndarray, ef: int) -> np.ndarray:
    import faiss

    faiss.omp_set_num_threads(1)
    index.hnsw.efSearch = ef  # type: ignore[attr-defined]
    return index.search(query[None, :], K)[1][0]  # type: ignore[attr-defined]


def build_faiss_sq8(data: np.ndarray) -> object:
    """HNSW over 8-bit scalar-quantised vectors; candidates re-scored exactly against ``data`` (what the
    plugin does: it keeps the float32 matrix for exact scores anyway)."""
    import faiss

    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.train(data[:50_000])
    index.add(data)
    return (index, data)


def query_faiss_sq8(pair: object, query: np.ndarray, ef: int) -> np.ndarray:
    import faiss

    index, data = pair  # type: ignore[misc]
    faiss.omp_set_num_threads(1)
    index.hnsw.efSearch = ef
    candidates = index.search(query[None, :], 4 * K)[1][0]
    candidates = candidates[candidates >= 0]
    scores = data[candidates] @ query
    return candidates[np.argsort(-scores)[:K]]


def build_plugin(data: np.ndarray) -> object:
    """The vector index's own path: ``store.Ann`` (the faiss-sq8 index above) queried through
    ``store.top_rows`` with the scope selector and exact re-scoring, as a search request does."""
    from commonly_vector_index.store import Ann, Snapshot

    ann = Ann(DIM)
    ann.build(data)
    n = len(data)
    return Snapshot(1, np.arange(n, dtype=np.int64), data, np.arange(n, dtype=np.int64), np.zeros(n, np.int32),
                    np.zeros(n, np.int32), np.ones(n, bool), {}, {"note": 0}, ann)


def query_plugin(snapshot: object, query: np.ndarray, ef: int) -> np.ndarray:
    from commonly_vector_index.store import allowed_rows, top_rows

    allowed = allowed_rows(snapshot, None, None)  # type: ignore[arg-type]
    return np.array([row for row, _ in top_rows(snapshot, query, allowed, K, ef)])  # type: ignore[arg-type]


LIBS = {
    "plugin": (build_plugin, query_plugin),
    "faiss-sq8": (build_faiss_sq8, query_faiss_sq8),
    "usearch": (build_usearch, query_usearch),
    "usearch-f16": (lambda data: build_usearch(data, "f16"), query_usearch),
    "usearch-i8": (lambda data: build_usearch(data, "i8"), query_usearch),
    "hnswlib": (build_hnswlib, query_hnswlib),
    "faiss": (build_faiss, query_faiss),
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--libs", default="usearch,hnswlib,faiss")
    parser.add_argument("--ef", default="32,64,128")
    args = parser.parse_args()

    started = time.perf_counter()
    data = synthetic(args.n, seed=1)
    queries = synthetic(args.queries, seed=2)
    print(f"{args.n} vectors generated in {time.perf_counter() - started:.1f} s")
    truth, exact_times = exact_top(data, queries)
    report: dict[str, object] = {
        "benchmark": "vector_ann", "n": args.n, "dimensions": DIM, "queries": args.queries,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "matrixMiB": round(data.nbytes / 2**20, 1),
        "exact": {"p50ms": round(percentile(exact_times, 50) * 1000, 2),
                  "p99ms": round(percentile(exact_times, 99) * 1000, 2)},
        "libraries": {},
    }
    print(f"exact numpy: p50 {report['exact']['p50ms']} ms, p99 {report['exact']['p99ms']} ms")
    for name in args.libs.split(","):
        build, query = LIBS[name]
        gc.collect()
        before = rss_mib()
        started = time.perf_counter()
        index = build(data)
        build_seconds = time.perf_counter() - started
        grown = rss_mib() - before
        runs = {}
        for ef in (int(value) for value in args.ef.split(",")):
            for warm in queries[:20]:
                query(index, warm, ef)
            times, hits = [], 0
            for row, vector in enumerate(queries):
                began = time.perf_counter()
                found = query(index, vector, ef)
                times.append(time.perf_counter() - began)
                hits += len(set(int(key) for key in found) & set(int(key) for key in truth[row]))
            runs[str(ef)] = {"recall10": round(hits / (K * len(queries)), 4),
                             "p50ms": round(percentile(times, 50) * 1000, 3),
                             "p99ms": round(percentile(times, 99) * 1000, 3),
                             "meanms": round(statistics.fmean(times) * 1000, 3)}
            print(f"{name:12} ef={ef:<4} recall@10 {runs[str(ef)]['recall10']:.4f}  "
                  f"p50 {runs[str(ef)]['p50ms']:.3f} ms  p99 {runs[str(ef)]['p99ms']:.3f} ms")
        report["libraries"][name] = {  # type: ignore[index]
            "buildSeconds": round(build_seconds, 1), "indexRssMiB": round(grown, 1),
            "rssMiBPerMillion": round(grown * 1_000_000 / args.n, 1), "byEf": runs,
        }
        print(f"{name:12} built in {build_seconds:.1f} s, RSS +{grown:.0f} MiB")
        del index
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"vector_ann-{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
