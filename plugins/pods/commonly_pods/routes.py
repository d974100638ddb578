"""HTTP routes of the pods plugin: thin wrappers over ``pods``, ``messages``, ``memory`` and ``context``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_response, tag_blueprint, validate_querystring, validate_request, validate_response

from commonly_kernel import (
    BadRequest,
    MessageOut,
    NotFound,
    RuleRefused,
    current_actor,
    document_errors,
    kernel,
    require_actor,
)

from . import context, memory, messages, pods
from .schemas import (
    AliasMessageIn,
    AssetIn,
    AssetListQuery,
    AssetOut,
    AssetPatch,
    ChatMessage,
    ContextArgs,
    ContextOut,
    ExcerptArgs,
    ExcerptOut,
    MemoryIn,
    MemoryOut,
    MessageIn,
    MessageQuery,
    PodIn,
    PodListQuery,
    PodOut,
    PodUpdate,
    SearchArgs,
    SearchOut,
)
from .state import state_of

blueprint = Blueprint("pods", __name__)
tag_blueprint(blueprint, ["pods"])

MAX_ID = 2**63 - 1
MAX_IDEMPOTENCY_KEY = 255


def _int_id(value: str, what: str) -> int:
    """An integer id from the path; one that cannot exist is a 404, not a 500."""
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise NotFound(f"No such {what}.", code=f"{what}_not_found")
    return int(value)


async def _describe(pod: pods.Pod) -> dict[str, Any]:
    return (await pods.describe([pod], current_actor().id))[0]


def _next_cursor(cursor: object) -> dict[str, str]:
    return {"X-Next-Cursor": str(cursor)} if cursor is not None else {}


# -- pods --------------------------------------------------------------------------------------


@blueprint.get("/api/pods")
@require_actor()
@validate_querystring(PodListQuery)
@document_response(list[PodOut])
async def list_pods(query_args: PodListQuery) -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    """Pods, newest first: ``mine`` (default), ``discover`` (open pods you are not in) or ``all``
    (global admins). DM pods (``agent-admin``) only with ``type=agent-admin``, only your own.
    ``X-Next-Cursor`` (a pod id for ``before``) when more remain."""
    found, more = await pods.list_pods(current_actor(), scope=query_args.scope, pod_type=query_args.type,
                                       limit=query_args.limit, before=query_args.before)
    body = await pods.describe(found, current_actor().id)
    return body, 200, _next_cursor(found[-1].id if more else None)


@blueprint.post("/api/pods")
@require_actor()
@validate_request(PodIn)
@validate_response(PodOut, 201)
async def create_pod(data: PodIn) -> tuple[dict[str, Any], int]:
    """Create a pod; you are its admin and first member."""
    if data.type == "agent-admin":
        raise RuleRefused("agent-admin pods are created by the registry when an agent is installed.",
                          code="invalid_type")
    pod = await pods.create_pod(kernel(), current_actor().id, name=data.name, description=data.description,
                                pod_type=data.type, join_policy=data.join_policy)
    return await _describe(pod), 201


@blueprint.get("/api/pods/<pod_id>")
@require_actor()
@document_errors(404)
@validate_response(PodOut)
async def get_pod(pod_id: str) -> dict[str, Any]:
    """A pod with its members; private pods are 404 to non-members."""
    return await _describe((await pods.access(pod_id, current_actor(), "see")).pod)


@blueprint.put("/api/pods/<pod_id>")
@require_actor()
@document_errors(404)
@validate_request(PodUpdate)
@validate_response(PodOut)
async def update_pod(pod_id: str, data: PodUpdate) -> dict[str, Any]:
    """Rename or reconfigure a pod (its admin or a global admin)."""
    granted = await pods.access(pod_id, current_actor(), "admin")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    return await _describe(await pods.update_pod(kernel(), granted, changes))


@blueprint.delete("/api/pods/<pod_id>")
@require_actor()
@document_errors(404)
@validate_response(MessageOut)
async def delete_pod(pod_id: str) -> MessageOut:
    """Delete a pod with its messages, assets and memberships (its admin or a global admin)."""
    granted = await pods.access(pod_id, current_actor(), "admin")
    await pods.delete_pod(kernel(), granted.pod)
    return MessageOut(message="Pod deleted.")


@blueprint.post("/api/pods/<pod_id>/join")
@require_actor()
@document_errors(404)
@validate_response(PodOut)
async def join_pod(pod_id: str) -> dict[str, Any]:
    """Join an open pod (idempotent); invite-only pods refuse with 403 ``join_refused``."""
    granted = await pods.access(pod_id, current_actor(), "see")
    return await _describe(await pods.join(kernel(), granted))


@blueprint.post("/api/pods/<pod_id>/leave")
@require_actor()
@document_errors(400, 404)
@validate_response(PodOut)
async def leave_pod(pod_id: str) -> dict[str, Any]:
    """Leave a pod; its creator cannot (delete it instead)."""
    granted = await pods.access(pod_id, current_actor(), "see")
    return await _describe(await pods.leave(kernel(), granted))


@blueprint.delete("/api/pods/<pod_id>/members/<member_id>")
@require_actor()
@document_errors(400, 404)
@validate_response(PodOut)
async def remove_member(pod_id: str, member_id: str) -> dict[str, Any]:
    """Remove a member (the pod's admin or a global admin); the creator cannot be removed."""
    granted = await pods.access(pod_id, current_actor(), "admin")
    if await pods.member_role(granted.pod.id, member_id) is None:
        raise NotFound("That user is not a member of this pod.", code="member_not_found")
    await pods.remove_member(kernel(), granted.pod, member_id)
    return await _describe(granted.pod)


# -- messages ----------------------------------------------------------------------------------


@blueprint.get("/api/messages/<pod_id>")  # the original clients' alias
@blueprint.get("/api/pods/<pod_id>/messages")
@require_actor()
@document_errors(400, 404)
@validate_querystring(MessageQuery)
@document_response(list[ChatMessage])
async def list_messages(pod_id: str, query_args: MessageQuery) -> Response:
    """A page of messages, oldest first. ``before``: older than that id (default: the newest);
    ``after``: the oldest ones newer than that id. ``X-Next-Cursor`` names the next page's cursor."""
    if query_args.before is not None and query_args.after is not None:
        raise BadRequest("Use `before` or `after`, not both.", code="validation_error")
    granted = await pods.access(pod_id, current_actor(), "read")
    body, cursor = await messages.rendered_page(kernel(), granted.pod, before=query_args.before,
                                                after=query_args.after, limit=query_args.limit)
    # Already JSON: quart-schema would build a TypeAdapter for the list on every request (the
    # shape is still documented above and checked by the suite).
    return Response(body, content_type="application/json", headers=_next_cursor(cursor))


@blueprint.post("/api/pods/<pod_id>/messages")
@require_actor()
@document_errors(404, 409, 422)
@validate_request(MessageIn)
@validate_response(ChatMessage, 200)
@validate_response(ChatMessage, 201)
async def post_message(pod_id: str, data: MessageIn) -> tuple[dict[str, Any], int]:
    """Post a message (members). An ``Idempotency-Key`` header makes retries return the first
    message (200) instead of posting twice."""
    return await _post(pod_id, data.content, data)


@blueprint.post("/api/messages/<pod_id>")
@require_actor()
@document_errors(404, 409, 422)
@validate_request(AliasMessageIn)
@validate_response(ChatMessage, 200)
@validate_response(ChatMessage, 201)
async def post_message_alias(pod_id: str, data: AliasMessageIn) -> tuple[dict[str, Any], int]:
    """The original clients' form of ``POST /api/pods/:id/messages`` (``{content}`` or ``{text}``)."""
    return await _post(pod_id, data.content or data.text or "", data)


async def _post(pod_id: str, content: str, data: MessageIn) -> tuple[dict[str, Any], int]:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters.", code="validation_error")
    granted = await pods.access(pod_id, current_actor(), "read")
    messages.check_may_post(granted)
    message, created = await messages.post_message(
        kernel(), granted.pod, granted.actor, content, attachments=data.attachments,
        reply_to=data.reply_to_message_id, idempotency_key=key,
    )
    return message, 201 if created else 200


@blueprint.delete("/api/pods/<pod_id>/messages/<message_id>")
@require_actor()
@document_errors(404)
@validate_response(MessageOut)
async def delete_message(pod_id: str, message_id: str) -> MessageOut:
    """Delete a message (its author or the pod's admin)."""
    granted = await pods.access(pod_id, current_actor(), "read")
    await messages.delete_message(kernel(), granted, _int_id(message_id, "message"))
    return MessageOut(message="Message deleted.")


# -- context -----------------------------------------------------------------------------------


@blueprint.get("/api/pods/<pod_id>/context")
@require_actor()
@document_errors(404)
@validate_querystring(ContextArgs)
@validate_response(ContextOut)
async def pod_context(pod_id: str, query_args: ContextArgs) -> dict[str, Any]:
    """The pod's memory for a task: summaries, assets, tags and skills, plus other plugins' sections."""
    actor = current_actor()
    granted = await pods.access(pod_id, actor, "read")
    _require_scope(actor, "context:read", granted.pod.id)
    query = context.ContextQuery(**query_args.model_dump())
    return await context.build(kernel(), state_of(kernel()).index, granted, query)


@blueprint.get("/api/pods/<pod_id>/context/search")
@require_actor()
@document_errors(404)
@validate_querystring(SearchArgs)
@validate_response(SearchOut)
async def search_context(pod_id: str, query_args: SearchArgs) -> SearchOut:
    """Assets matching the query, best first: semantic when a plugin (the vector index) answers,
    else by shared words in tags, title and text (``mode`` says which)."""
    granted = await pods.access(pod_id, current_actor(), "read")
    if not query_args.query.strip():
        raise BadRequest("`query` must not be blank.", code="validation_error")
    types = sorted({item.strip() for item in (query_args.types or "").split(",") if item.strip()})
    answer = await kernel().hooks.context_search(granted.pod, granted.actor, query_args.query, query_args.limit,
                                                 types, query_args.include_skills)
    if answer is not None:
        return SearchOut(query=query_args.query, mode=answer.mode, results=answer.results[: query_args.limit])
    results = await context.search(state_of(kernel()).index, granted, query_args.query, limit=query_args.limit,
                                   include_skills=query_args.include_skills, types=set(types))
    return SearchOut(query=query_args.query, results=results)


@blueprint.get("/api/pods/<pod_id>/context/assets/<asset_id>")
@require_actor()
@document_errors(404)
@validate_querystring(ExcerptArgs)
@validate_response(ExcerptOut)
async def asset_excerpt(pod_id: str, asset_id: str, query_args: ExcerptArgs) -> dict[str, Any]:
    """Some lines of an asset (``from`` is 1-based; both clamped to the asset)."""
    granted = await pods.access(pod_id, current_actor(), "read")
    asset = await memory.get_asset(granted, _int_id(asset_id, "asset"))
    return context.excerpt(asset, query_args.start, query_args.lines)


# -- memory and assets -------------------------------------------------------------------------


@blueprint.post("/api/v1/memory/<pod_id>")
@require_actor()
@document_errors(404)
@validate_request(MemoryIn)
@validate_response(MemoryOut, 201)
async def write_memory(pod_id: str, data: MemoryIn) -> tuple[MemoryOut, int]:
    """Write to the pod's memory. Agents write to their own (``agent`` scope) unless they ask for
    ``pod``; people write to the pod's."""
    actor = current_actor()
    granted = await pods.access(pod_id, actor, "read")
    _require_scope(actor, "memory:write", granted.pod.id)
    _require_member(granted)
    fields = {"type": memory.MEMORY_TARGETS[data.target], "title": data.title or "", "content": data.content,
              "tags": data.tags, "scope": data.scope, "source_type": "memory-api"}
    asset = await memory.create_asset(kernel(), granted, fields)
    return MemoryOut(success=True, asset_id=str(asset.id)), 201


@blueprint.get("/api/pods/<pod_id>/assets")
@require_actor()
@document_errors(404)
@validate_querystring(AssetListQuery)
@document_response(list[AssetOut])
async def list_assets(pod_id: str, query_args: AssetListQuery) -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    """The pod's assets you may see, newest first; ``X-Next-Cursor`` when more remain."""
    granted = await pods.access(pod_id, current_actor(), "read")
    found, more = await memory.list_assets(granted, asset_type=query_args.type, status=query_args.status,
                                           limit=query_args.limit, before=query_args.before)
    body = [AssetOut.model_validate(context.asset_out(asset)).model_dump(mode="json", by_alias=True)
            for asset in found]
    return body, 200, _next_cursor(found[-1].id if more else None)


@blueprint.post("/api/pods/<pod_id>/assets")
@require_actor()
@document_errors(404)
@validate_request(AssetIn)
@validate_response(AssetOut, 201)
async def create_asset(pod_id: str, data: AssetIn) -> tuple[dict[str, Any], int]:
    """Add an asset to the pod's memory (members)."""
    granted = await pods.access(pod_id, current_actor(), "read")
    _require_member(granted)
    asset = await memory.create_asset(kernel(), granted, data.model_dump())
    return context.asset_out(asset), 201


@blueprint.get("/api/pods/<pod_id>/assets/<asset_id>")
@require_actor()
@document_errors(404)
@validate_response(AssetOut)
async def get_asset(pod_id: str, asset_id: str) -> dict[str, Any]:
    """One asset."""
    granted = await pods.access(pod_id, current_actor(), "read")
    return context.asset_out(await memory.get_asset(granted, _int_id(asset_id, "asset")))


@blueprint.patch("/api/pods/<pod_id>/assets/<asset_id>")
@require_actor()
@document_errors(404)
@validate_request(AssetPatch)
@validate_response(AssetOut)
async def update_asset(pod_id: str, asset_id: str, data: AssetPatch) -> dict[str, Any]:
    """Change an asset (its author or the pod's admin); ``status: archived`` archives it."""
    granted = await pods.access(pod_id, current_actor(), "read")
    asset = await memory.get_asset(granted, _int_id(asset_id, "asset"))
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    return context.asset_out(await memory.update_asset(kernel(), granted, asset, changes))


@blueprint.delete("/api/pods/<pod_id>/assets/<asset_id>")
@require_actor()
@document_errors(404)
@validate_response(MessageOut)
async def delete_asset(pod_id: str, asset_id: str) -> MessageOut:
    """Delete an asset (its author or the pod's admin)."""
    granted = await pods.access(pod_id, current_actor(), "read")
    await memory.delete_asset(kernel(), granted, await memory.get_asset(granted, _int_id(asset_id, "asset")))
    return MessageOut(message="Asset deleted.")


def _require_member(granted: pods.PodAccess) -> None:
    if not granted.is_member:
        raise pods.Forbidden("Only members of this pod may do this.", code="not_a_member")


def _require_scope(actor: Any, scope: str, pod_id: object) -> None:
    if not actor.allows(scope, pod_id):
        raise pods.Forbidden(f"The token lacks the scope {scope}.", code="missing_scope",
                             details={"missing": [scope]})
