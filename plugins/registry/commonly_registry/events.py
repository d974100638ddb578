"""The agent event queue: ``pending → claimed → delivered | failed``, at least once.

Claims are one conditional ``UPDATE … RETURNING`` (with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so two processes polling one queue never hand one event to two claimers. A claim not
acked within the claim timeout returns to ``pending``; after ``max_attempts`` deliveries it
becomes ``failed``. Producers: pod messages (mentions, DMs), thread comments, other plugins.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from commonly_kernel import Kernel, NotFound, PayloadTooLarge, fetch_all

from . import webhooks
from .config import RegistryConfig
from .installs import slug
from .models import AgentEvent, AgentIdentity, DirectPod, Installation

EVENT_READY = "registry.event-ready"  # broadcast: "<agentName>\t<instanceId>"
MAX_RESULT_BYTES = 16_384
LOOP_GUARD_EVENTS = 3
LOOP_GUARD_WINDOW = timedelta(minutes=5)
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_.-]*)")
OVERFLOW = re.compile(
    r"context (length|window|overflow|limit)|prompt (is )?too (large|long)|token limit|too many tokens"
    r"|maximum context|context_length_exceeded",
    re.IGNORECASE,
)


def now() -> datetime:
    return datetime.now(UTC)


# -- producing ---------------------------------------------------------------------------------


async def enqueue(kernel: Kernel, *, agent_name: str, instance_id: str, pod_id: object, event_type: str,
                  payload: dict[str, Any], from_agent: bool = False,
                  installation: Installation | None = None) -> AgentEvent:
    """Queue an event for one agent instance and wake whoever can deliver it: the process holding
    its socket (a broadcast note) and its webhook, if it has one (after the response). Pass the
    ``installation`` when you have it loaded: its webhook need not be looked up."""
    event = await AgentEvent.create(agent_name=agent_name, instance_id=instance_id, pod_id=pod_id,
                                    type=event_type, payload=payload, from_agent=from_agent)
    await kernel.broadcast.publish(EVENT_READY, f"{agent_name}\t{instance_id}")
    if installation is not None:
        if webhooks.webhook_url(installation):
            kernel.spawn(webhooks.deliver(kernel, installation, event), name="registry.webhook")
    elif pod_id is not None:
        kernel.spawn(webhooks.deliver_new(kernel, event), name="registry.webhook")
    return event


async def on_message(kernel: Kernel, message: dict[str, Any], pod: Any) -> list[AgentEvent]:
    """Turn a pod message into events: ``dm.message`` in DM pods, ``chat.mention`` for @mentions."""
    if pod.type == "agent-admin":
        return await _direct_message(kernel, message, pod)
    tokens = {token.rstrip(".-").lower() for token in MENTION.findall(message.get("content") or "")}
    if not tokens:
        return []
    installed = await Installation.filter(pod_id=pod.id, status="active").select_related("identity")
    produced = []
    for installation in _mentioned(installed, tokens):
        if str(installation.identity.user_id) == message.get("userId"):
            continue  # an agent's own message never wakes itself
        if message.get("isBot") and await _throttled(installation, pod.id):
            continue
        payload = {"messageId": message["id"], "content": message["content"], "userId": message.get("userId"),
                   "username": message.get("username"), "mentions": sorted(tokens)}
        produced.append(await enqueue(kernel, agent_name=installation.agent_name,
                                      instance_id=installation.instance_id, pod_id=pod.id,
                                      event_type="chat.mention", payload=payload,
                                      from_agent=bool(message.get("isBot")), installation=installation))
    return produced


def _mentioned(installed: list[Installation], tokens: set[str]) -> list[Installation]:
    per_agent: dict[str, int] = {}
    for installation in installed:
        per_agent[installation.agent_name] = per_agent.get(installation.agent_name, 0) + 1
    chosen = []
    for installation in installed:
        names = {slug(installation.display_name)}
        if installation.instance_id != "default":
            names.add(installation.instance_id)
        if per_agent[installation.agent_name] == 1:
            names.add(installation.agent_name.lower())
        if names & tokens:
            chosen.append(installation)
    return chosen


async def _throttled(installation: Installation, pod_id: object) -> bool:
    """The loop guard: agents' messages wake one agent in one pod at most 3 times in 5 minutes."""
    recent = await AgentEvent.filter(agent_name=installation.agent_name, instance_id=installation.instance_id,
                                     pod_id=pod_id, from_agent=True,
                                     created_at__gte=now() - LOOP_GUARD_WINDOW).count()
    return recent >= LOOP_GUARD_EVENTS


async def _direct_message(kernel: Kernel, message: dict[str, Any], pod: Any) -> list[AgentEvent]:
    direct = await DirectPod.get_or_none(pod_id=pod.id).select_related("identity")
    if direct is None or message.get("isBot"):
        return []
    payload = {"messageId": message["id"], "content": message["content"], "userId": message.get("userId"),
               "username": message.get("username"), "podId": str(pod.id)}
    return [await enqueue(kernel, agent_name=direct.identity.agent_name, instance_id=direct.identity.instance_id,
                          pod_id=pod.id, event_type="dm.message", payload=payload)]


async def on_comment(kernel: Kernel, comment: Any, post: Any, mentions: list[str]) -> list[AgentEvent]:
    """``thread.mention`` for each mentioned agent that is installed where the post lives."""
    from commonly_auth import users_by_usernames

    users = await users_by_usernames(mentions)
    bot_ids = [user.id for user in users.values() if user.is_bot]
    if not bot_ids:
        return []
    pod_id = getattr(post, "pod_id", None)
    author_id = str(getattr(comment, "user_id", "") or "")
    produced = []
    for identity in await AgentIdentity.filter(user_id__in=bot_ids):
        if str(identity.user_id) == author_id:
            continue
        installs = Installation.filter(identity_id=identity.id, status="active")
        installation = await (installs.filter(pod_id=pod_id) if pod_id else installs).first()
        if installation is None:
            continue
        payload = {"postId": str(post.id), "commentId": str(comment.id),
                   "content": getattr(comment, "text", None) or getattr(comment, "content", ""),
                   "userId": author_id, "podId": str(pod_id) if pod_id else None, "mentions": list(mentions)}
        produced.append(await enqueue(kernel, agent_name=identity.agent_name, instance_id=identity.instance_id,
                                      pod_id=pod_id, event_type="thread.mention", payload=payload,
                                      installation=installation))
    return produced


# -- delivering --------------------------------------------------------------------------------


_CLAIM = (
    "UPDATE registry_agent_event SET status = 'claimed', attempts = attempts + 1, claimed_at = ? "
    "WHERE id IN (SELECT id FROM registry_agent_event WHERE agent_name = ? AND instance_id = ? "
    "AND status = 'pending' ORDER BY id LIMIT ?{lock}) RETURNING *"
)
_ACK = (
    "UPDATE registry_agent_event SET status = 'delivered', delivered_at = ?, delivery = ? "
    "WHERE id = ? AND agent_name = ? AND instance_id = ? AND status <> 'delivered' RETURNING *"
)
_REQUEUE = (
    "UPDATE registry_agent_event SET status = CASE WHEN attempts >= ? THEN 'failed' ELSE 'pending' END "
    "WHERE status = 'claimed' AND claimed_at < ?{mine} RETURNING agent_name, instance_id, status"
)


async def claim(config: RegistryConfig, agent_name: str, instance_id: str, limit: int) -> list[AgentEvent]:
    """Claim up to ``limit`` pending events of one instance, oldest first (attempts + 1): one
    statement, so two claimers never take the same event (PostgreSQL also skips rows another
    claimer holds locked instead of waiting for them)."""
    await requeue_expired(config, agent_name=agent_name, instance_id=instance_id)
    postgres = connections.get("default").capabilities.dialect == "postgres"
    rows = await fetch_all(_CLAIM.format(lock=" FOR UPDATE SKIP LOCKED" if postgres else ""),
                           [now(), agent_name, instance_id, limit])
    return sorted((AgentEvent._init_from_db(**row) for row in rows), key=lambda event: event.id)


async def ack(config: RegistryConfig, kernel: Kernel, agent_name: str, instance_id: str, event_id: int,
              result: dict[str, Any] | None) -> AgentEvent:
    """Mark an event of this instance delivered (twice is harmless) and keep the result."""
    if result is not None and len(json.dumps(result, separators=(",", ":")).encode()) > MAX_RESULT_BYTES:
        raise PayloadTooLarge(f"`result` may hold at most {MAX_RESULT_BYTES} bytes.", code="result_too_large")
    delivery = {"outcome": "acknowledged", **(result or {})}
    rows = await fetch_all(_ACK, [now(), json.dumps(delivery), event_id, agent_name, instance_id])
    if not rows:  # someone else's, unknown, or acked before
        event = await AgentEvent.get_or_none(id=event_id, agent_name=agent_name, instance_id=instance_id)
        if event is None:
            raise NotFound("No such event in your queue.", code="event_not_found")
        return event
    event = AgentEvent._init_from_db(**rows[0])
    if _overflowed(delivery) and event.payload.get("overflowRetries", 0) < config.overflow_retry_limit:
        payload = {**event.payload, "retry": "context-overflow",
                   "overflowRetries": event.payload.get("overflowRetries", 0) + 1}
        await enqueue(kernel, agent_name=agent_name, instance_id=instance_id, pod_id=event.pod_id,
                      event_type=event.type, payload=payload)
    return event


def _overflowed(delivery: dict[str, Any]) -> bool:
    return delivery.get("outcome") == "error" and bool(OVERFLOW.search(str(delivery.get("reason") or "")))


async def requeue_expired(config: RegistryConfig, *, agent_name: str | None = None,
                          instance_id: str | None = None) -> list[dict[str, Any]]:
    """Claims older than the timeout: back to ``pending``, or ``failed`` after the last attempt
    (one statement); returns ``{agentName, instanceId, status}`` of each event it moved."""
    params: list[Any] = [config.max_attempts, now() - timedelta(seconds=config.claim_timeout)]
    mine = ""
    if agent_name is not None:
        mine = " AND agent_name = ? AND instance_id = ?"
        params += [agent_name, instance_id]
    return await fetch_all(_REQUEUE.format(mine=mine), params)


async def requeue_and_wake(config: RegistryConfig, kernel: Kernel) -> int:
    """The scheduler's requeue: expired claims everywhere, then a wake-up note for each instance
    with events pending again, so that its connected sockets get them without waiting for a new
    event or a reconnect."""
    moved = await requeue_expired(config)
    for agent_name, instance_id in sorted({(row["agent_name"], row["instance_id"]) for row in moved
                                           if row["status"] == "pending"}):
        await kernel.broadcast.publish(EVENT_READY, f"{agent_name}\t{instance_id}")
    return len(moved)


async def purge(config: RegistryConfig) -> int:
    """Delivered and failed events older than the retention window."""
    cutoff = now() - timedelta(days=config.retention_days)
    return await AgentEvent.filter(status__in=("delivered", "failed"), created_at__lt=cutoff).delete()
