"""HTTP routes of the vector index: thin wrappers over ``service``."""

from __future__ import annotations

import json
from typing import Any

from commonly_pods import Pod, access
from pydantic import ValidationError
from quart import Blueprint, request
from quart_schema import document_request, document_response, tag_blueprint, validate_querystring, validate_response

from commonly_kernel import BadRequest, ValidationFailed, current_actor, document_errors, kernel, require_actor

from . import service
from .schemas import RebuildAllOut, RebuildIn, RebuildOut, SearchArgs, SearchOut, StatsOut
from .state import state_of

blueprint = Blueprint("vector_index", __name__)
tag_blueprint(blueprint, ["vector_index"])


async def _rebuild_body() -> RebuildIn:
    """``{reset?}``; an empty body (with or without a JSON content type) means ``{}``."""
    raw = await request.get_data()
    if not raw.strip():
        return RebuildIn()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    try:
        return RebuildIn.model_validate(data)
    except ValidationError as error:
        details = [{"field": ".".join(str(part) for part in item["loc"]) or "body", "message": item["msg"],
                    "type": item["type"]} for item in error.errors(include_url=False, include_input=False)]
        raise ValidationFailed(details=details) from None


def _answer(result: dict[str, Any], **extra: Any) -> tuple[dict[str, Any], int]:
    body = {key: result[key] for key in ("indexed", "errors", "total", "reset", "pending")}
    return {**extra, **body}, 200 if result["done"] else 202


@blueprint.post("/api/v1/pods/<pod_id>/index/rebuild")
@require_actor()
@document_errors(400, 404, 413)
@document_request(RebuildIn)
@document_response(RebuildOut)
@document_response(RebuildOut, 202)
async def rebuild(pod_id: str) -> tuple[dict[str, Any], int]:
    """Re-index the pod's active assets (pod admin or global admin); ``reset`` drops its vectors
    first. 200 once done, 202 (with ``pending``) when the queue takes longer than the wait."""
    granted = await access(pod_id, current_actor(), "admin")
    body = await _rebuild_body()
    result = await service.rebuild(state_of(kernel()), [granted.pod], reset=body.reset)
    return _answer(result)


@blueprint.post("/api/v1/index/rebuild-all")
@require_actor()
@document_errors(400, 413)
@document_request(RebuildIn)
@document_response(RebuildAllOut)
@document_response(RebuildAllOut, 202)
async def rebuild_all() -> tuple[dict[str, Any], int]:
    """Re-index every pod the caller created."""
    body = await _rebuild_body()
    pods = await Pod.filter(created_by_id=current_actor().id).order_by("created_at")
    result = await service.rebuild(state_of(kernel()), pods, reset=body.reset)
    return _answer(result, pods=len(pods))


@blueprint.get("/api/v1/pods/<pod_id>/index/stats")
@require_actor()
@document_errors(404)
@validate_response(StatsOut)
async def stats(pod_id: str) -> dict[str, Any]:
    """Numbers about the pod's index (members): chunks, assets, vectors, the model, the queue."""
    granted = await access(pod_id, current_actor(), "read")
    return {"stats": await service.stats(state_of(kernel()), str(granted.pod.id))}


@blueprint.get("/api/v1/pods/<pod_id>/index/search")
@require_actor()
@document_errors(400, 404, 503)
@validate_querystring(SearchArgs)
@validate_response(SearchOut)
async def search(pod_id: str, query_args: SearchArgs) -> dict[str, Any]:
    """The pod's chunks closest in meaning to ``q`` that the caller may see, best first (members)."""
    granted = await access(pod_id, current_actor(), "read")
    hits = await service.search(state_of(kernel()), granted.pod, granted.actor, query_args.q,
                                limit=query_args.limit, types=query_args.type_list, hybrid=query_args.hybrid)
    return {"query": query_args.q, "results": [hit.as_result() for hit in hits]}
