"""Skills in the pod context: imported ones, heuristic candidates, or documents an LLM writes.

``llm`` asks an OpenAI-compatible endpoint (``COMMONLY_LLM_*``) to write skill documents from the
pod's summaries and assets, stores them as ``PodAsset(type=skill, sourceType=llm)`` and reuses them
until ``skillRefreshHours`` pass or a task is given. Without an endpoint, or when it fails, the
mode falls back to ``heuristic`` and says why in ``skillWarnings``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tortoise.expressions import Q

from commonly_kernel import Kernel

from .config import PodsConfig, config_for
from .memory import AssetEntry, save_generated, tag_counts
from .models import PodAsset
from .pods import PodAccess

log = logging.getLogger("commonly.pods.skills")

GENERATED = ("llm", "heuristic")
SOURCE_CHARS = 1500  # of each summary/asset sent to the LLM
SOURCE_ITEMS = 12
_locks: dict[str, asyncio.Lock] = {}


@dataclass
class Chosen:
    skills: list[dict[str, Any]]
    mode: str
    warnings: list[str] = field(default_factory=list)


async def skills_for(kernel: Kernel, granted: PodAccess, entries: list[AssetEntry], ranked: list[AssetEntry],
                     query: Any) -> Chosen:
    imported = [entry for entry in ranked if entry.type == "skill" and entry.source_type not in GENERATED]
    imported_out = [skill_out(asset) for asset in await _assets(imported[: query.skill_limit])]
    room = query.skill_limit - len(imported_out)
    if query.skill_mode == "none" or room <= 0:
        return Chosen(imported_out, query.skill_mode)
    if query.skill_mode == "llm":
        config = config_for(kernel.settings)
        if config.llm_base_url is None:
            warning = "No LLM is configured (COMMONLY_LLM_BASE_URL); skills were derived heuristically."
            return Chosen(imported_out + heuristic(ranked, entries, room), "heuristic", [warning])
        try:
            written = await _llm_skills(kernel, config, granted, ranked, query, room)
        except LLMFailed as failure:
            log.warning("skill synthesis for pod %s failed: %s", granted.pod.id, failure)
            warning = f"The LLM could not write skills ({failure}); skills were derived heuristically."
            return Chosen(imported_out + heuristic(ranked, entries, room), "heuristic", [warning])
        return Chosen(imported_out + written, "llm")
    return Chosen(imported_out + heuristic(ranked, entries, room), "heuristic")


def heuristic(ranked: list[AssetEntry], entries: list[AssetEntry], count: int) -> list[dict[str, Any]]:
    """One candidate per frequent tag (ties: the tag seen most recently), listing the assets that
    carry it, task-relevant ones first."""
    counts = tag_counts(entries)
    recency = {tag: position for position, entry in reversed(list(enumerate(entries))) for tag in
               (t.lower() for t in entry.tags)}
    top = sorted(counts, key=lambda tag: (-counts[tag], recency.get(tag, 0)))[:count]
    candidates = []
    for tag in top:
        tagged = [entry for entry in ranked if tag in {t.lower() for t in entry.tags}
                  and entry.type != "skill"][:5]
        lines = "\n".join(f"- {entry.title or entry.type} ({entry.type}, {entry.created_at:%Y-%m-%d})"
                          for entry in tagged)
        candidates.append({
            "id": f"heuristic:{tag}", "title": f"Working with {tag}", "type": "skill", "tags": [tag],
            "content": f"# Working with {tag}\n\n{counts[tag]} items of this pod's memory are tagged "
                       f"`{tag}`. The most relevant:\n{lines}\n",
            "metadata": {"heuristic": True, "tag": tag, "sourceAssetIds": [str(entry.id) for entry in tagged]},
            "createdAt": tagged[0].created_at if tagged else None,
        })
    return candidates


class LLMFailed(Exception):
    pass


async def _llm_skills(kernel: Kernel, config: PodsConfig, granted: PodAccess, ranked: list[AssetEntry],
                      query: Any, count: int) -> list[dict[str, Any]]:
    pod_id = str(granted.pod.id)
    async with _locks.setdefault(pod_id, asyncio.Lock()):
        if not query.task:
            fresh = await _fresh_generated(pod_id, query.skill_refresh_hours, count)
            if fresh:
                return [skill_out(asset) for asset in fresh]
        sources = await _assets([entry for entry in ranked if entry.type != "skill"
                                 and entry.scope == "pod"][:SOURCE_ITEMS])
        if not sources:
            return []
        documents = await _ask(config, granted.pod.name, query.task, sources, count)
        stored = await save_generated(kernel, granted.pod, [
            {"type": "skill", "title": document["title"][:300], "content": document["content"],
             "tags": document["tags"], "source_type": "llm",
             "metadata": {"scope": "pod", "generatedBy": "llm", "model": config.llm_model, "task": query.task,
                          "sourceAssetIds": [str(asset.id) for asset in sources]}}
            for document in documents
        ], replace=Q(type="skill", source_type="llm"))
        return [skill_out(asset) for asset in stored]


async def _fresh_generated(pod_id: str, refresh_hours: int, count: int) -> list[PodAsset]:
    since = datetime.now(UTC) - timedelta(hours=refresh_hours)
    # Only the latest batch is active (each run archives the one before): keep the LLM's order,
    # so a reused answer lists the skills as the first one did.
    return await PodAsset.filter(pod_id=pod_id, type="skill", source_type="llm", status="active",
                                 created_at__gte=since).order_by("id").limit(count)


async def _ask(config: PodsConfig, pod_name: str, task: str | None, sources: list[PodAsset],
               count: int) -> list[dict[str, Any]]:
    material = "\n\n".join(f"## {asset.title or asset.type} [{asset.type}; tags: {', '.join(asset.tags)}]\n"
                           f"{asset.content[:SOURCE_CHARS]}" for asset in sources)
    instruction = (
        f"You write reusable skill documents for the members (people and AI agents) of the pod "
        f"\"{pod_name}\". From its memory below, write at most {count} skills"
        + (f" useful for this task: {task}" if task else "")
        + ". Answer with JSON only: {\"skills\": [{\"title\": str, \"content\": markdown str, \"tags\": [str]}]}."
    )
    body = {"model": config.llm_model, "temperature": 0.2,
            "messages": [{"role": "system", "content": instruction}, {"role": "user", "content": material}]}
    headers = {"Authorization": f"Bearer {config.llm_api_key}"} if config.llm_api_key else {}
    try:
        async with httpx.AsyncClient(timeout=config.llm_timeout) as http:
            response = await http.post(f"{config.llm_base_url}/chat/completions", json=body, headers=headers)
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
    except httpx.HTTPStatusError as error:
        raise LLMFailed(f"the endpoint answered {error.response.status_code}") from None
    except httpx.HTTPError as error:
        raise LLMFailed(f"the endpoint could not be reached: {type(error).__name__}") from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMFailed("the endpoint's answer is not a chat completion") from None
    return _documents(text, count)


def _documents(text: str, count: int) -> list[dict[str, Any]]:
    """The skills in the model's answer (tolerating a fenced code block around the JSON)."""
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    try:
        skills = json.loads(match.group(0))["skills"] if match else None
    except (ValueError, KeyError, TypeError):
        skills = None
    if not isinstance(skills, list):
        raise LLMFailed("the answer holds no skills JSON")
    documents = [
        {"title": str(skill["title"]), "content": str(skill["content"]),
         "tags": [str(tag) for tag in skill.get("tags") or [] if isinstance(tag, str | int)][:10]}
        for skill in skills if isinstance(skill, dict) and skill.get("title") and skill.get("content")
    ]
    if not documents:
        raise LLMFailed("the answer holds no usable skill")
    return documents[:count]


async def _assets(entries: list[AssetEntry]) -> list[PodAsset]:
    if not entries:
        return []
    loaded = {asset.id: asset for asset in await PodAsset.filter(id__in=[entry.id for entry in entries])}
    return [loaded[entry.id] for entry in entries if entry.id in loaded]


def skill_out(asset: PodAsset) -> dict[str, Any]:
    return {"id": str(asset.id), "title": asset.title, "type": asset.type, "content": asset.content,
            "tags": asset.tags, "metadata": asset.metadata, "createdAt": asset.created_at}
