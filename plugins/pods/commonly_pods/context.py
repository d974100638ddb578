"""The pod context agents read before they act: summaries, assets, tags and skills ranked for a
task, plus sections other plugins contribute through ``commonly_pod_context``."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from commonly_kernel import Kernel

from . import skills
from .memory import SUMMARY_TYPES, AssetEntry, MemoryIndex, may_see, tag_counts, words
from .models import PodAsset
from .pods import PodAccess, pod_summary

log = logging.getLogger("commonly.pods")

CORE_KEYS = frozenset({"pod", "task", "summaries", "assets", "tags", "skills", "skillModeUsed", "skillWarnings",
                       "stats"})


@dataclass(frozen=True)
class ContextQuery:
    """``GET /api/pods/:id/context`` parameters, already clamped to their ranges."""

    task: str | None = None
    summary_limit: int = 6
    asset_limit: int = 12
    tag_limit: int = 16
    skill_limit: int = 6
    skill_mode: str = "llm"
    skill_refresh_hours: int = 6


def rank(entries: list[AssetEntry], task: str | None) -> list[AssetEntry]:
    """Entries matching the task's keywords first (tags weigh most, then title, then text),
    then by recency. ``entries`` come newest first, and the sort is stable."""
    keywords = words(task or "")
    if not keywords:
        return entries
    return sorted(entries, key=lambda entry: -score(entry, keywords))


def score(entry: AssetEntry, keywords: set[str]) -> float:
    tags = {tag.lower() for tag in entry.tags}
    return 3.0 * len(keywords & tags) + 2.0 * len(keywords & entry.title_words) + len(keywords & entry.text_words)


async def build(kernel: Kernel, index: MemoryIndex, granted: PodAccess, query: ContextQuery) -> dict[str, Any]:
    entries = [entry for entry in await index.entries(granted.pod) if may_see(entry, granted.actor, granted.pod.id)]
    ranked = rank(entries, query.task)
    summary_entries = [entry for entry in ranked if entry.type in SUMMARY_TYPES][: query.summary_limit]
    asset_entries = [entry for entry in ranked
                     if entry.type not in SUMMARY_TYPES and entry.type != "skill"][: query.asset_limit]
    loaded = await _load([entry.id for entry in summary_entries + asset_entries])
    tags = [{"tag": tag, "count": count} for tag, count in tag_counts(entries).most_common(query.tag_limit)]
    chosen = await skills.skills_for(kernel, granted, entries, ranked, query)
    context: dict[str, Any] = {
        "pod": pod_summary(granted.pod),
        "task": query.task,
        "summaries": [summary_out(loaded[entry.id]) for entry in summary_entries if entry.id in loaded],
        "assets": [asset_out(loaded[entry.id]) for entry in asset_entries if entry.id in loaded],
        "tags": tags,
        "skills": chosen.skills,
        "skillModeUsed": chosen.mode,
        "skillWarnings": chosen.warnings,
    }
    context["stats"] = {name: len(context[name]) for name in ("summaries", "assets", "tags", "skills")}
    await _add_plugin_sections(kernel, granted, query, context)
    return context


async def _add_plugin_sections(kernel: Kernel, granted: PodAccess, query: ContextQuery,
                               context: dict[str, Any]) -> None:
    # Every parameter, snake_case: task, summary_limit, asset_limit, tag_limit, skill_limit, ...
    for section in await kernel.hooks.pod_context(granted.pod, granted.actor, asdict(query)):
        if section.name in CORE_KEYS or section.name in context:
            log.warning("plugin %r contributed a context section named %r, which is taken; left out",
                        section.source, section.name)
            continue
        context[section.name] = section.content


async def _load(asset_ids: list[int]) -> dict[int, PodAsset]:
    return {asset.id: asset for asset in await PodAsset.filter(id__in=asset_ids)} if asset_ids else {}


def summary_out(asset: PodAsset) -> dict[str, Any]:
    return {"id": str(asset.id), "title": asset.title, "content": asset.content, "tags": asset.tags,
            "createdAt": asset.created_at}


def asset_out(asset: PodAsset) -> dict[str, Any]:
    """The full asset as routes and the context show it."""
    return {
        "id": str(asset.id), "_id": str(asset.id), "podId": str(asset.pod_id), "type": asset.type,
        "title": asset.title, "content": asset.content, "tags": asset.tags, "sourceType": asset.source_type,
        "sourceRef": asset.source_ref, "metadata": asset.metadata, "status": asset.status,
        "createdByType": asset.created_by_type,
        "createdBy": str(asset.created_by_id) if asset.created_by_id else None,
        "createdAt": asset.created_at, "updatedAt": asset.updated_at,
    }


# -- keyword search and excerpts ---------------------------------------------------------------


async def search(index: MemoryIndex, granted: PodAccess, text: str, *, limit: int, include_skills: bool,
                 types: set[str]) -> list[dict[str, Any]]:
    """Assets whose tags, title or text share words with ``text``, best first."""
    keywords = words(text)
    candidates = [
        entry for entry in await index.entries(granted.pod)
        if may_see(entry, granted.actor, granted.pod.id) and (include_skills or entry.type != "skill")
        and (not types or entry.type in types)
    ]
    scored = sorted(((score(entry, keywords), entry) for entry in candidates), key=lambda pair: -pair[0])
    top = [(points, entry) for points, entry in scored if points > 0][:limit]
    loaded = await _load([entry.id for _, entry in top])
    maximum = 3.0 * len(keywords) + 2.0 * len(keywords) + len(keywords) or 1.0
    return [
        {"assetId": str(entry.id), "title": entry.title, "type": entry.type, "tags": list(entry.tags),
         "score": round(points / maximum, 4), "snippet": snippet(loaded[entry.id].content, keywords),
         "createdAt": entry.created_at}
        for points, entry in top if entry.id in loaded
    ]


def snippet(content: str, keywords: set[str], width: int = 240) -> str:
    """About ``width`` characters of ``content`` around the first keyword it contains."""
    lowered = content.lower()
    positions = [lowered.find(keyword) for keyword in keywords]
    start = min((position for position in positions if position >= 0), default=0)
    start = max(0, start - width // 4)
    text = content[start:start + width].strip()
    return ("…" if start else "") + text + ("…" if start + width < len(content) else "")


def excerpt(asset: PodAsset, start: int, count: int) -> dict[str, Any]:
    """Lines ``start`` (1-based) onwards of an asset, both clamped to the asset."""
    lines = asset.content.splitlines() or [""]
    start = min(max(start, 1), len(lines))
    end = min(start + count - 1, len(lines))
    return {"assetId": str(asset.id), "title": asset.title, "text": "\n".join(lines[start - 1:end]),
            "startLine": start, "endLine": end, "totalLines": len(lines)}
