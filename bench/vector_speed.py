"""Indexing throughput and search latency of the vector index, each against a baseline measured in the
same run.

    .venv/bin/python bench/vector_speed.py                   # about 5 minutes on 2 cores
    .venv/bin/python bench/vector_speed.py --skip-throughput --sizes 10000

1. **Throughput through the queue**: ``--assets`` assets of ~150 words are posted to one pod through the
   API of ``commonly serve`` (auth, pods, vector_index) running with its worker off, so each waits in the
   queue as a job; then the server is restarted with its worker on, on the same SQLite file, and drains
   the queue. The clock starts when the first batch is done (that batch also loads the model, ~7 s of
   imports) and stops when ``pending`` is 0; the rate is over the jobs done in between (polled every
   0.1 s). Baseline: ``model.encode`` of the same texts (title + content, batch 32) in this process, while
   no server runs, best of two runs (before and after). Target: >= 90 % of the raw rate.
2. **Search latency**: one pod with 10,000 then 100,000 chunks. Chunk rows are written straight into
   the database (synthetic clustered unit vectors spread over 1,000 real assets: encoding 100,000 texts
   would take ten minutes and says nothing about search), then ``GET /api/v1/pods/:id/index/search?q=...``
   is timed one request at a time for ``--queries`` different real query texts (after a warm-up that
   loads the pod into the server's memory). Baseline in this process: ``model.encode([q])`` plus a
   numpy brute-force top-10 (matrix-vector product + argpartition) over the same vectors.
   Target: the route's p99 ≤ 1.5 x the baseline's p99.

Results: ``bench/results/vector_speed-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import vector_common as common

BENCH = Path(__file__).resolve().parent

#: The vocabulary of the throughput texts (50 words).
VOCABULARY = ("river harbour crane ledger invoice garden rooftop kettle server backup payroll budget meeting "
              "contract supplier warehouse shelf printer laptop network firewall onboarding recruit heating boiler "
              "elevator newsletter customer website homepage kitchen coffee schedule deadline quarter summer "
              "winter review approve replace repair inspect clean upgrade expand relocate cancel secure monitor "
              "report")
WORDS = VOCABULARY.split()
DIM = 384


def paragraph(rng: random.Random, words: int) -> str:
    sentences, count = [], 0
    while count < words:
        length = rng.randint(8, 16)
        sentence = " ".join(rng.choice(WORDS) for _ in range(length))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        count += length
    return " ".join(sentences)


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.array(values) * 1000
    return {"p50ms": round(float(np.percentile(array, 50)), 2), "p99ms": round(float(np.percentile(array, 99)), 2),
            "meanms": round(float(array.mean()), 2)}


def throughput(model: Any, count: int) -> dict[str, Any]:
    rng = random.Random(7)
    assets = [{"title": f"Report {i}", "content": paragraph(rng, 150)} for i in range(count)]
    texts = [f"{asset['title']}\n{asset['content']}" for asset in assets]

    def raw() -> float:
        started = time.perf_counter()
        model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                     show_progress_bar=False)
        return time.perf_counter() - started

    model.encode(texts[:32], batch_size=32, show_progress_bar=False)  # warm
    raw_first = raw()
    with common.scratch_dir() as data_dir:
        env = common.base_env(data_dir)
        # 1. A process that only queues: every asset is posted through the API (the hooks queue a job each).
        with common.server({**env, "COMMONLY_VECTOR_WORKER": "0"}) as server, \
                httpx.Client(base_url=server.url, timeout=120) as http:
            headers = common.register(http)
            pod = http.post("/api/pods", json={"name": "Throughput"}, headers=headers).json()
            started = time.perf_counter()
            for asset in assets:
                http.post(f"/api/pods/{pod['id']}/assets", headers=headers, json=asset).raise_for_status()
            posted = time.perf_counter() - started
        # 2. A process with the worker drains the queue. The clock starts at the first finished job (the
        #    first batch also loads the model: ~7 s of imports that are not indexing) and stops when the
        #    queue is empty; the rate is over the jobs done in between.
        with common.server(env) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            boot = time.perf_counter()
            first_pending = None
            while True:
                stats = http.get(f"/api/v1/pods/{pod['id']}/index/stats", headers=headers).json()["stats"]
                if first_pending is None and stats["pending"] < count:
                    first_pending, started = stats["pending"], time.perf_counter()
                if stats["pending"] == 0:
                    break
                time.sleep(0.1)
            finished = time.perf_counter()
            queued, whole = finished - started, finished - boot
    raw_second = raw()
    best_raw = min(raw_first, raw_second)
    done = first_pending or 0
    result = {
        "assets": count, "wordsPerAsset": 150, "chunks": stats["chunks"],
        "rawSeconds": [round(raw_first, 2), round(raw_second, 2)],
        "rawPerSecond": round(count / best_raw, 1),
        "postingSeconds": round(posted, 2),
        "queueSeconds": round(queued, 2), "queueJobsTimed": done,
        "queuePerSecond": round(done / queued, 1),
        "queueSecondsWithModelLoad": round(whole, 2),
        "ratio": round((done / queued) / (count / best_raw), 3),
    }
    print(f"throughput: queue {result['queuePerSecond']}/s vs raw encode {result['rawPerSecond']}/s "
          f"= {result['ratio']:.0%} (target >= 90 %)")
    return result


def synthetic(n: int, seed: int, centres: int = 2000, spread: float = 0.06) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(12345).standard_normal((centres, DIM), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    picks = rng.integers(0, centres, n)
    out = base[picks] + rng.standard_normal((n, DIM), dtype=np.float32) * spread
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def insert_chunks(db: Path, pod_id: str, asset_rows: list[tuple[int, str]], vectors: np.ndarray, start: int) -> None:
    now = datetime.now(UTC).isoformat()
    rows = []
    for offset, vector in enumerate(vectors):
        number = start + offset
        asset_id, title = asset_rows[number % len(asset_rows)]
        rows.append((pod_id, asset_id, number // len(asset_rows), "note", "pod", None, title,
                     f"Synthetic chunk {number} of {title}.", vector.astype("<f4").tobytes(), "synthetic", now))
    with sqlite3.connect(db, timeout=30) as connection:
        connection.executemany(
            "INSERT INTO vector_chunk (pod_id, asset_id, chunk_index, asset_type, scope, agent_key, title, text, "
            "vector, model, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        connection.execute("DELETE FROM vector_job")
        updated = connection.execute("UPDATE vector_pod_state SET version = version + 1 WHERE pod_id = ?",
                                     (pod_id,)).rowcount
        if not updated:
            connection.execute("INSERT INTO vector_pod_state (pod_id, version, updated_at) VALUES (?, 1, ?)",
                               (pod_id, now))


def search_latency(model: Any, sizes: list[int], queries: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with common.scratch_dir() as data_dir:
        env = common.base_env(data_dir, COMMONLY_VECTOR_WORKER="0")
        db = data_dir / "commonly.sqlite3"
        with common.server(env) as server, httpx.Client(base_url=server.url, timeout=300) as http:
            headers = common.register(http)
            pod = http.post("/api/pods", json={"name": "Latency"}, headers=headers).json()
            asset_rows = []
            for number in range(1000):
                asset = http.post(f"/api/pods/{pod['id']}/assets", headers=headers,
                                  json={"title": f"Asset {number}", "content": f"Synthetic asset {number}."}).json()
                asset_rows.append((int(asset["id"]), asset["title"]))
            vectors = synthetic(max(sizes), seed=3)
            have = 0
            for size in sorted(sizes):
                insert_chunks(db, pod["id"], asset_rows, vectors[have:size], have)
                have = size
                matrix = vectors[:size]
                url = f"/api/v1/pods/{pod['id']}/index/search"
                started = time.perf_counter()
                first = http.get(url, params={"q": "warm up", "limit": 10}, headers=headers)
                first.raise_for_status()
                load_seconds = time.perf_counter() - started
                for text in queries[:10]:
                    http.get(url, params={"q": text, "limit": 10}, headers=headers)
                    model.encode([text], show_progress_bar=False)
                route, base = [], []
                for text in queries:  # interleaved, so both see the same machine
                    began = time.perf_counter()
                    response = http.get(url, params={"q": text, "limit": 10}, headers=headers)
                    route.append(time.perf_counter() - began)
                    assert response.status_code == 200 and len(response.json()["results"]) == 10
                    began = time.perf_counter()
                    query = model.encode([text], convert_to_numpy=True, normalize_embeddings=True,
                                         show_progress_bar=False)[0]
                    scores = matrix @ query
                    top = np.argpartition(-scores, 10)[:10]
                    top[np.argsort(-scores[top])]
                    base.append(time.perf_counter() - began)
                entry = {"route": percentiles(route), "baseline": percentiles(base),
                         "firstSearchSeconds": round(load_seconds, 2)}
                entry["p99Ratio"] = round(entry["route"]["p99ms"] / entry["baseline"]["p99ms"], 3)
                entry["p50Ratio"] = round(entry["route"]["p50ms"] / entry["baseline"]["p50ms"], 3)
                results[str(size)] = entry
                print(f"search at {size} chunks: route p50 {entry['route']['p50ms']} ms p99 {entry['route']['p99ms']} "
                      f"ms; encode+numpy p50 {entry['baseline']['p50ms']} ms p99 {entry['baseline']['p99ms']} ms; "
                      f"p99 ratio {entry['p99Ratio']} (target <= 1.5); first search (load) {load_seconds:.2f} s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=400)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    model = common.load_model()
    report: dict[str, Any] = {"benchmark": "vector_speed", "commit": common.commit(),
                              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not args.skip_throughput:
        report["throughput"] = throughput(model, args.assets)
    if not args.skip_search:
        dataset = json.loads((BENCH / "vector_quality" / "dataset.json").read_text())
        texts = [item["query"] for items in dataset["queries"].values() for item in items][: args.queries]
        report["search"] = search_latency(model, [int(size) for size in args.sizes.split(",")], texts)
    print(f"written {common.write_result('vector_speed', report)}")


if __name__ == "__main__":
    main()
