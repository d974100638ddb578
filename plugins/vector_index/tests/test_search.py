"""Semantic search with the real bundled model: relevance without shared words, the results
contract, and how saves, deletes and archives follow through to the index."""

from __future__ import annotations

import re

STOPWORDS = {"the", "and", "for", "with", "that", "this", "how", "are", "its", "into", "every", "when", "what",
             "your", "our", "new", "one", "all", "before", "after", "from"}

TOPICS = {
    "sourdough": ("Sourdough starter care",
                  "Feed the culture with equal parts flour and water each morning. Keep the jar at room "
                  "temperature; when it doubles and smells tangy it is ready to leaven a loaf. Bake the dough "
                  "in a preheated dutch oven for a crisp crust.",
                  "how to make bread rise naturally with wild yeast"),
    "kubernetes": ("Kubernetes rollout runbook",
                   "Apply the manifest, watch the deployment until every replica reports ready, and roll back "
                   "with kubectl rollout undo if the health probes fail. Scale the cluster nodes ahead of peak "
                   "traffic.",
                   "steps for shipping a fresh container release to production servers safely"),
    "tax": ("Quarterly VAT filing",
            "Collect receipts and invoices, compute the value added tax owed to the revenue agency, and submit "
            "the return before the deadline at the end of each quarter to avoid penalties.",
            "paying government levies on company sales"),
    "marathon": ("Marathon training plan",
                 "Run easy miles five days a week, add one long run on Sunday that grows by two kilometres, and "
                 "taper during the final fortnight before race day. Hydrate and stretch after each session.",
                 "getting fit for a 42 km footrace"),
    "plants": ("Houseplant watering",
               "Water the monstera when the top inch of soil is dry, mist the fern leaves, and move the "
               "succulents to the sunniest windowsill in winter.",
               "keeping indoor greenery alive and healthy"),
    "passwords": ("Login secret rotation policy",
                  "Each employee must change their login secret every ninety days; use a manager to generate long "
                  "random passphrases and enable two-factor authentication.",
                  "account security credentials renewal rules"),
}


def content_words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z0-9]+", text.lower()) if len(word) > 2 and word not in STOPWORDS}


async def seed(make_asset, owner, pod) -> dict[str, str]:
    ids = {}
    for key, (title, content, _) in TOPICS.items():
        ids[key] = (await make_asset(owner, pod, type="note", title=title, content=content, tags=[key]))["id"]
    return ids


async def test_queries_find_assets_they_share_no_words_with(make_user, make_pod, make_asset, indexed, search):
    alice = await make_user()
    pod = await make_pod(alice)
    ids = await seed(make_asset, alice, pod)
    stats = await indexed(alice, pod)
    assert stats["assets"] == len(TOPICS) and stats["chunks"] == stats["embeddings"] == len(TOPICS)
    for key, (title, content, query) in TOPICS.items():
        assert not content_words(query) & content_words(f"{title} {content} {key}"), key
        response = await search(alice, pod, query)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert results[0]["assetId"] == ids[key], (query, results[:3])
        assert results[0]["score"] > results[-1]["score"]


async def test_results_shape_limits_types_and_chunks(make_user, make_pod, make_asset, indexed, search):
    alice = await make_user()
    pod = await make_pod(alice)
    ids = await seed(make_asset, alice, pod)
    long_text = " ".join(f"word{i % 50}" for i in range(900))  # 900 words: chunks at 0, 320 and 640
    long = await make_asset(alice, pod, type="log", title="Long log", content=long_text)
    stats = await indexed(alice, pod)
    assert stats == {"available": True, "chunks": len(TOPICS) + 3, "assets": len(TOPICS) + 1,
                     "embeddings": len(TOPICS) + 3, "model": "all-MiniLM-L6-v2", "dimensions": 384,
                     "pending": 0, "failed": 0}

    body = (await search(alice, pod, "bread baking", limit=3)).json()
    assert body["query"] == "bread baking" and len(body["results"]) == 3
    top = body["results"][0]
    assert set(top) == {"assetId", "chunkIndex", "title", "snippet", "score", "type", "tags"}
    assert top == {**top, "assetId": ids["sourdough"], "chunkIndex": 0, "title": "Sourdough starter care",
                   "type": "note", "tags": ["sourdough"]}
    assert top["snippet"].startswith("Feed the culture") and -1 <= top["score"] <= 1

    everything = (await search(alice, pod, "anything at all", limit=1000)).json()["results"]
    assert len(everything) == len(TOPICS) + 3  # limit clamped to 100: all chunks
    assert [hit["score"] for hit in everything] == sorted((hit["score"] for hit in everything), reverse=True)
    assert sorted(hit["chunkIndex"] for hit in everything if hit["assetId"] == long["id"]) == [0, 1, 2]
    assert len((await search(alice, pod, "anything", limit=0)).json()["results"]) == 1  # clamped to 1

    logs = (await search(alice, pod, "anything", types="log")).json()["results"]
    assert {hit["assetId"] for hit in logs} == {long["id"]}
    both = (await search(alice, pod, "anything", types="log, note")).json()["results"]
    assert len(both) == len(TOPICS) + 3
    assert (await search(alice, pod, "anything", types="never-used")).json()["results"] == []

    hybrid = (await search(alice, pod, "Kubernetes rollout", hybrid="true", limit=2)).json()["results"]
    assert hybrid[0]["assetId"] == ids["kubernetes"]


async def test_updates_deletes_and_archives_follow_through(client, make_user, make_pod, make_asset, indexed, search):
    alice = await make_user()
    pod = await make_pod(alice)
    ids = await seed(make_asset, alice, pod)
    await indexed(alice, pod)
    url = f"/api/pods/{pod['id']}/assets"

    # An update re-embeds: the old content is no longer what the asset answers to.
    response = await client.patch(f"{url}/{ids['plants']}", headers=alice.headers, json={
        "title": "Chess openings", "content": "The Sicilian defence and the Queen's gambit are sharp first moves."})
    assert response.status_code == 200
    await indexed(alice, pod)
    hits = (await search(alice, pod, "board game strategy at the start of a match")).json()["results"]
    assert hits[0]["assetId"] == ids["plants"] and hits[0]["title"] == "Chess openings"
    hits = (await search(alice, pod, "keeping indoor greenery alive and healthy")).json()["results"]
    assert hits[0]["assetId"] != ids["plants"]

    # Deleted and archived assets leave the index (and never show, even before the queue drains).
    assert (await client.delete(f"{url}/{ids['tax']}", headers=alice.headers)).status_code == 200
    hits = (await search(alice, pod, "paying government levies on company sales", limit=100)).json()["results"]
    assert ids["tax"] not in {hit["assetId"] for hit in hits}
    assert (await client.patch(f"{url}/{ids['marathon']}", headers=alice.headers,
                               json={"status": "archived"})).status_code == 200
    stats = await indexed(alice, pod)
    assert stats["assets"] == len(TOPICS) - 2 and stats["chunks"] == len(TOPICS) - 2
    hits = (await search(alice, pod, "getting fit for a 42 km footrace", limit=100)).json()["results"]
    assert {ids["tax"], ids["marathon"]}.isdisjoint(hit["assetId"] for hit in hits)
    assert len(hits) == len(TOPICS) - 2
