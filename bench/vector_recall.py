"""Retrieval quality of the vector index beside the pods plugin's keyword search, on the labelled set in
``bench/vector_quality/dataset.json`` (1,000 assets; 250 paraphrased + 100 literal queries; see
``bench/vector_quality/generate.py``).

    .venv/bin/python bench/vector_recall.py          # about 2 minutes on 2 cores

One run: ``commonly serve`` (auth, pods, vector_index) on a scratch SQLite file; the 1,000 assets are
posted to one pod through the API and indexed through the queue; every query is asked of

- ``GET /api/v1/pods/:id/index/search?q&limit=5`` (semantic, and with ``hybrid=true``),
- ``GET /api/pods/:id/context/search?query&limit=5`` (answered semantically by the index),

then the server is restarted on the same database with ``auth,pods`` only, where the same context search
route answers with the keyword search (``mode: keyword``). Recall@5 (the relevant asset among the first
five) and MRR@5 per query set. Results: ``bench/results/vector_recall-<time>.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import vector_common as common

BENCH = Path(__file__).resolve().parent

DATASET = BENCH / "vector_quality" / "dataset.json"
K = 5


def ranks(found: list[list[str]], wanted: list[str]) -> dict[str, float]:
    hits, reciprocal = 0, 0.0
    for ids, target in zip(found, wanted, strict=True):
        if target in ids[:K]:
            hits += 1
            reciprocal += 1 / (ids.index(target) + 1)
    return {"recall@5": round(hits / len(wanted), 4), "mrr@5": round(reciprocal / len(wanted), 4)}


def ask(http: httpx.Client, path: str, params: dict[str, Any], headers: dict[str, str],
        key_of: dict[str, str]) -> tuple[list[str], str]:
    response = http.get(path, params=params, headers=headers)
    response.raise_for_status()
    body = response.json()
    ids = list(dict.fromkeys(key_of.get(hit["assetId"], "?") for hit in body["results"]))
    return ids, body.get("mode", "")


def main() -> None:
    dataset = json.loads(DATASET.read_text())
    report: dict[str, Any] = {"benchmark": "vector_recall", "commit": common.commit(), "k": K,
                              "assets": len(dataset["assets"]),
                              "queries": {name: len(items) for name, items in dataset["queries"].items()}}
    with common.scratch_dir() as data_dir:
        env = common.base_env(data_dir)
        with common.server(env) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            headers = common.register(http)
            pod = http.post("/api/pods", json={"name": "Quality"}, headers=headers).json()
            key_of: dict[str, str] = {}
            started = time.perf_counter()
            for asset in dataset["assets"]:
                response = http.post(f"/api/pods/{pod['id']}/assets", headers=headers,
                                     json={"type": "note", "title": asset["title"], "content": asset["content"]})
                response.raise_for_status()
                key_of[response.json()["id"]] = asset["key"]
            stats = common.wait_drained(http, pod["id"], headers)
            report["indexSeconds"] = round(time.perf_counter() - started, 1)
            report["stats"] = stats
            print(f"indexed {stats['assets']} assets ({stats['chunks']} chunks) in {report['indexSeconds']} s")
            semantic: dict[str, Any] = {}
            for name, items in dataset["queries"].items():
                wanted = [item["relevant"] for item in items]
                runs = {"index-search": [], "index-search-hybrid": [], "context-search": []}
                for item in items:
                    path = f"/api/v1/pods/{pod['id']}/index/search"
                    runs["index-search"].append(ask(http, path, {"q": item["query"], "limit": K}, headers, key_of)[0])
                    runs["index-search-hybrid"].append(ask(http, path, {"q": item["query"], "limit": K,
                                                                        "hybrid": "true"}, headers, key_of)[0])
                    ids, mode = ask(http, f"/api/pods/{pod['id']}/context/search",
                                    {"query": item["query"], "limit": K}, headers, key_of)
                    assert mode == "semantic", mode
                    runs["context-search"].append(ids)
                semantic[name] = {run: ranks(found, wanted) for run, found in runs.items()}
        keyword: dict[str, Any] = {}
        with common.server({**env, "COMMONLY_PLUGINS": "auth,pods"}) as server, \
                httpx.Client(base_url=server.url, timeout=120) as http:
            for name, items in dataset["queries"].items():
                found = []
                for item in items:
                    ids, mode = ask(http, f"/api/pods/{pod['id']}/context/search",
                                    {"query": item["query"], "limit": K}, headers, key_of)
                    assert mode == "keyword", mode
                    found.append(ids)
                keyword[name] = ranks(found, [item["relevant"] for item in items])
    report["results"] = {name: {**semantic[name], "keyword-context-search": keyword[name]} for name in semantic}
    print(f"{'query set':12} {'route':28} {'recall@5':>9} {'mrr@5':>7}")
    for name, runs in report["results"].items():
        for run, figures in runs.items():
            print(f"{name:12} {run:28} {figures['recall@5']:>9.3f} {figures['mrr@5']:>7.3f}")
    print(f"written {common.write_result('vector_recall', report)}")


if __name__ == "__main__":
    main()
