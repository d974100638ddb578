"""The vector index's part in the pod context: a ``semantic`` section for a task, and semantic
answers to ``GET /api/pods/:id/context/search``."""

from __future__ import annotations

import logging
from typing import Any

from commonly_kernel import Actor, ContextSearch, ContextSection

from . import service
from .state import current_state

log = logging.getLogger("commonly.vector_index")

SECTION_LIMIT = 8


async def pod_context(pod: Any, actor: Actor, query: dict[str, Any]) -> list[ContextSection] | None:
    task = (query.get("task") or "").strip()
    state = current_state()
    if not task or state is None or not state.available():
        return None
    limit = min(int(query.get("asset_limit") or SECTION_LIMIT), SECTION_LIMIT)
    try:
        hits = await service.search(state, pod, actor, task[: state.config.max_query_chars], limit=limit)
    except service.IndexUnavailable:  # the model failed to load just now: no section, not an error
        return None
    return [ContextSection("semantic", [hit.as_result() for hit in hits], priority=40)]


async def context_search(pod: Any, actor: Actor, query: str, limit: int, types: list[str],
                         include_skills: bool) -> ContextSearch | None:
    """Semantic search when the model is usable and the pod has vectors; None lets the pods plugin's
    keyword search answer (a pod whose assets are still queued, a machine without the model)."""
    state = current_state()
    if state is None or not state.available() or not await service.has_vectors(state, pod):
        return None
    try:
        hits = await service.search(state, pod, actor, query[: state.config.max_query_chars], limit=limit,
                                    types=types or None, per_asset=True,
                                    exclude_types=frozenset() if include_skills else frozenset({"skill"}))
    except service.IndexUnavailable:
        return None
    return ContextSearch("semantic", [hit.as_context_result() for hit in hits])
