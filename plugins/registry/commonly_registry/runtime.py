"""The agent runtime API: events, context, messages and thread comments, with a runtime token
(``/api/agents/runtime/...``) or a bot user token (``/api/agents/runtime/bot/...``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import commonly_pods
from quart import Blueprint
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from commonly_kernel import (
    Actor,
    BadRequest,
    Forbidden,
    NotFound,
    current_actor,
    document_errors,
    kernel,
    require_actor,
)

from . import events, service
from .config import config_for
from .schemas import (
    AckIn,
    AckManyIn,
    AgentMessageIn,
    CommentIn,
    DevEventIn,
    DmIn,
    EventQuery,
    Loose,
    RuntimeMessagesQuery,
)
from .wire import event_out

blueprint = Blueprint("agent_runtime", __name__)
tag_blueprint(blueprint, ["agent runtime"])

Route = Callable[..., Awaitable[Any]]


def agent_token(kind: str, scope: str | None = None) -> Callable[[Route], Route]:
    """Admit only an agent's ``runtime`` or ``bot`` token; a bot token must hold ``scope`` (its
    empty scope list means all) — else 403 ``missing_scope``."""

    def decorator(func: Route) -> Route:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor.kind != "agent" or actor.claims.get("tokenKind") != kind:
                raise Forbidden(f"This route takes an agent's {kind} token.", code=f"{kind}_token_required")
            granted = actor.claims.get("botScopes") or []
            if kind == "bot" and scope and granted and scope not in granted:
                raise Forbidden(f"The token lacks the scope {scope}.", code="missing_scope",
                                details={"missing": [scope]})
            return await func(*args, **kwargs)

        return require_actor(kind="agent")(document_errors(403)(wrapper))  # type: ignore[return-value]

    return decorator


def _identity(actor: Actor) -> tuple[str, str]:
    return actor.claims["agentName"], actor.claims["instanceId"]


# -- events ------------------------------------------------------------------------------------


async def _fetch(limit: int) -> dict[str, Any]:
    claimed = await events.claim(config_for(kernel().settings), *_identity(current_actor()), limit)
    return {"events": [event_out(event) for event in claimed]}


async def _ack(event_id: str, data: AckIn) -> dict[str, Any]:
    if not event_id.isdigit() or len(event_id) > 18:
        raise NotFound("No such event in your queue.", code="event_not_found")
    event = await events.ack(config_for(kernel().settings), kernel(), *_identity(current_actor()), int(event_id),
                             data.result)
    return {"success": True, "event": event_out(event)}


async def _ack_many(data: AckManyIn) -> dict[str, Any]:
    acked, missing = await events.ack_many(config_for(kernel().settings), kernel(), *_identity(current_actor()),
                                           data.event_ids, data.result)
    return {"success": True, "acked": acked, "missing": missing}


@blueprint.get("/api/agents/runtime/events")
@agent_token("runtime")
@validate_querystring(EventQuery)
@validate_response(Loose)
async def fetch_events(query_args: EventQuery) -> dict[str, Any]:
    """Claim this instance's pending events, oldest first; ack each within the claim timeout."""
    return await _fetch(query_args.limit)


@blueprint.get("/api/agents/runtime/bot/events")
@agent_token("bot", "agent:events:read")
@validate_querystring(EventQuery)
@validate_response(Loose)
async def fetch_events_bot(query_args: EventQuery) -> dict[str, Any]:
    """``GET /api/agents/runtime/events`` with a bot user token (``agent:events:read``)."""
    return await _fetch(query_args.limit)


@blueprint.post("/api/agents/runtime/events/<event_id>/ack")
@agent_token("runtime")
@document_errors(404, 413)
@validate_request(AckIn)
@validate_response(Loose)
async def ack_event(event_id: str, data: AckIn) -> dict[str, Any]:
    """Acknowledge an event (twice is harmless); ``result`` is kept as its delivery."""
    return await _ack(event_id, data)


@blueprint.post("/api/agents/runtime/bot/events/<event_id>/ack")
@agent_token("bot", "agent:events:ack")
@document_errors(404, 413)
@validate_request(AckIn)
@validate_response(Loose)
async def ack_event_bot(event_id: str, data: AckIn) -> dict[str, Any]:
    """``POST .../events/:id/ack`` with a bot user token (``agent:events:ack``)."""
    return await _ack(event_id, data)


@blueprint.post("/api/agents/runtime/events/ack")
@agent_token("runtime")
@document_errors(413)
@validate_request(AckManyIn)
@validate_response(Loose)
async def ack_events(data: AckManyIn) -> dict[str, Any]:
    """Acknowledge up to 500 events with one result (an extension): ``{success, acked, missing}``;
    ``missing`` are unknown or someone else's and nothing changes for them; twice is harmless."""
    return await _ack_many(data)


@blueprint.post("/api/agents/runtime/bot/events/ack")
@agent_token("bot", "agent:events:ack")
@document_errors(413)
@validate_request(AckManyIn)
@validate_response(Loose)
async def ack_events_bot(data: AckManyIn) -> dict[str, Any]:
    """``POST .../events/ack`` with a bot user token (``agent:events:ack``)."""
    return await _ack_many(data)


# -- identity and DM pods ----------------------------------------------------------------------


@blueprint.get("/api/agents/runtime/installations")
@agent_token("runtime")
@validate_response(Loose)
async def runtime_installations() -> dict[str, Any]:
    """Who this token is, and its pods: installations first, then DM pods."""
    return await service.runtime_installations(current_actor())


@blueprint.post("/api/agents/runtime/dm")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_request(DmIn)
@validate_response(Loose, 200)
@validate_response(Loose, 201)
async def open_dm(data: DmIn) -> tuple[dict[str, Any], int]:
    """The DM pod between you and an agent instance: 201 when made now, 200 when it existed."""
    pod, created = await service.direct_pod(kernel(), current_actor(), data.agent_name, data.instance_id)
    return {"dmPod": {**commonly_pods.pod_summary(pod), "_id": str(pod.id), "joinPolicy": pod.join_policy}}, \
        201 if created else 200


# -- context and messages ----------------------------------------------------------------------


async def _context(pod_id: str) -> dict[str, Any]:
    actor = current_actor()
    service.runtime_pod(actor, pod_id)
    granted = await commonly_pods.access(pod_id, actor, "read")
    return await commonly_pods.pod_context(kernel(), granted)


async def _messages(pod_id: str, query: RuntimeMessagesQuery) -> dict[str, Any]:
    if query.before is not None and query.after is not None:
        raise BadRequest("Use `before` or `after`, not both.", code="validation_error")
    actor = current_actor()
    service.runtime_pod(actor, pod_id)
    granted = await commonly_pods.access(pod_id, actor, "read")
    found, cursor = await commonly_pods.message_page(kernel(), granted.pod, before=query.before, after=query.after,
                                                     limit=query.limit)
    return {"messages": [{**message, "self": message["userId"] == actor.id} for message in found],
            "hasMore": cursor is not None, "nextCursor": cursor}


async def _post(pod_id: str, data: AgentMessageIn) -> tuple[dict[str, Any], int]:
    message = await service.post_as_agent(kernel(), current_actor(), pod_id, data.content, data.reply_to_message_id)
    if message is None:
        return {"success": True, "skipped": True}, 200
    return {"success": True, "message": message}, 201


@blueprint.get("/api/agents/runtime/pods/<pod_id>/context")
@agent_token("runtime")
@document_errors(404)
@validate_response(Loose)
async def runtime_context(pod_id: str) -> dict[str, Any]:
    """The pod context, with this instance's own memory when it may ``memory:read``."""
    return await _context(pod_id)


@blueprint.get("/api/agents/runtime/bot/pods/<pod_id>/context")
@agent_token("bot", "agent:context:read")
@document_errors(404)
@validate_response(Loose)
async def runtime_context_bot(pod_id: str) -> dict[str, Any]:
    """The runtime context with a bot user token (``agent:context:read``)."""
    return await _context(pod_id)


@blueprint.get("/api/agents/runtime/pods/<pod_id>/messages")
@agent_token("runtime")
@document_errors(400, 404)
@validate_querystring(RuntimeMessagesQuery)
@validate_response(Loose)
async def runtime_messages(pod_id: str, query_args: RuntimeMessagesQuery) -> dict[str, Any]:
    """``{messages, hasMore}`` oldest first; ``self`` marks this instance's own."""
    return await _messages(pod_id, query_args)


@blueprint.get("/api/agents/runtime/bot/pods/<pod_id>/messages")
@agent_token("bot", "agent:messages:read")
@document_errors(400, 404)
@validate_querystring(RuntimeMessagesQuery)
@validate_response(Loose)
async def runtime_messages_bot(pod_id: str, query_args: RuntimeMessagesQuery) -> dict[str, Any]:
    """The runtime messages with a bot user token (``agent:messages:read``)."""
    return await _messages(pod_id, query_args)


@blueprint.post("/api/agents/runtime/pods/<pod_id>/messages")
@agent_token("runtime")
@document_errors(404)
@validate_request(AgentMessageIn)
@validate_response(Loose, 200)
@validate_response(Loose, 201)
async def runtime_post(pod_id: str, data: AgentMessageIn) -> tuple[dict[str, Any], int]:
    """Post as the agent; empty or ``NO_REPLY`` content posts nothing (200 ``skipped``)."""
    return await _post(pod_id, data)


@blueprint.post("/api/agents/runtime/bot/pods/<pod_id>/messages")
@agent_token("bot", "agent:messages:write")
@document_errors(404)
@validate_request(AgentMessageIn)
@validate_response(Loose, 200)
@validate_response(Loose, 201)
async def runtime_post_bot(pod_id: str, data: AgentMessageIn) -> tuple[dict[str, Any], int]:
    """Post as the agent with a bot user token (``agent:messages:write``)."""
    return await _post(pod_id, data)


# -- thread comments (a social post's thread; 404 without the social plugin) -------------------


async def _thread_comment(thread_id: str, content: str) -> tuple[dict[str, Any], int]:
    if not any(plugin.name == "social" for plugin in kernel().plugins):
        raise NotFound("Threads need the social plugin, which this server does not run.", code="post_not_found")
    import commonly_social

    actor = current_actor()
    post = await commonly_social.get_visible_post(kernel(), actor, thread_id)
    if not actor.allows("posts:write", post.pod_id):
        raise Forbidden("The installation lacks the scope posts:write.", code="missing_scope",
                        details={"missing": ["posts:write"]})
    comment = await commonly_social.add_comment(kernel(), actor, post.id, content)
    return {"success": True, "comment": {"id": str(comment.id), "postId": str(post.id), "userId": actor.id,
                                         "text": comment.text, "createdAt": comment.created_at}}, 201


@blueprint.post("/api/agents/runtime/threads/<thread_id>/comments")
@agent_token("runtime")
@document_errors(404)
@validate_request(CommentIn)
@validate_response(Loose, 201)
async def thread_comment(thread_id: str, data: CommentIn) -> tuple[dict[str, Any], int]:
    """Comment on a post the agent may see (``posts:write`` in the post's pod)."""
    return await _thread_comment(thread_id, data.content)


@blueprint.post("/api/agents/runtime/bot/threads/<thread_id>/comments")
@agent_token("bot")
@document_errors(404)
@validate_request(CommentIn)
@validate_response(Loose, 201)
async def thread_comment_bot(thread_id: str, data: CommentIn) -> tuple[dict[str, Any], int]:
    """The thread comment with a bot user token (its installation needs ``posts:write``)."""
    return await _thread_comment(thread_id, data.content)


# -- development -------------------------------------------------------------------------------


@blueprint.post("/api/dev/agents/events")
@require_actor(kind="user")
@document_errors(404)
@validate_request(DevEventIn)
@validate_response(Loose, 201)
async def dev_event(data: DevEventIn) -> tuple[dict[str, Any], int]:
    """Queue any event for an installed agent (development mode only; 403 in production)."""
    if not config_for(kernel().settings).development:
        raise Forbidden("Development-only route.", code="development_only")
    installation = await service.installation_in(data.pod_id, current_actor(), data.agent_name, data.instance_id)
    event = await events.enqueue(kernel(), agent_name=installation.agent_name,
                                 instance_id=installation.instance_id, pod_id=installation.pod_id,
                                 event_type=data.type, payload=data.payload, installation=installation)
    if event is None:
        raise NotFound(f"{data.agent_name} is paused in this pod.", code="installation_not_found")
    return {"event": event_out(event)}, 201


