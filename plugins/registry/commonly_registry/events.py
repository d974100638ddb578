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
from tortoise.exceptions import IntegrityError

from commonly_kernel import HTTPError, Kernel, NotFound, PayloadTooLarge, fetch_all

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


# One statement and no ORM: what the ORM's create costs is most of an enqueue. An event for an
# installation is stored only while that installation is active, checked in the same statement:
# an uninstall, a pause or a pod deletion that committed first wins over a cached installation.
_INSERT = (
    "INSERT INTO registry_agent_event (agent_name, instance_id, pod_id, type, payload, status, attempts, "
    "from_agent, created_at, claimed_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{guard} RETURNING *"
)
_WHILE_ACTIVE = " WHERE EXISTS (SELECT 1 FROM registry_installation WHERE id = ? AND status = 'active')"
_UNCLAIM = ("UPDATE registry_agent_event SET status = 'pending', attempts = attempts - 1, claimed_at = NULL "
            "WHERE id = ? AND status = 'claimed'")


async def enqueue(kernel: Kernel, *, agent_name: str, instance_id: str, pod_id: object, event_type: str,
                  payload: dict[str, Any], from_agent: bool = False,
                  installation: Installation | None = None) -> AgentEvent | None:
    """Queue an event for one agent instance and wake whoever can deliver it: the process holding
    its socket (a broadcast note) and its webhook, if it has one (after the response). Pass the
    ``installation`` when you have it loaded: its webhook need not be looked up, and the event is
    stored only if it is still active. None when nothing was stored (that installation is no
    longer active, or the pod is gone).

    When this process holds the instance's socket and no drain of it runs here, the event is
    stored claimed and pushed at once: no note, no claim statement (an event that trickles in
    would otherwise cost a claim of its own). Order is kept among the events this process pushes;
    notes from other processes may still be on their way (the spec promises oldest first to
    fetches, which this does not change)."""
    from .state import state_of  # the sockets live in the app's state, which imports this module

    sockets = state_of(kernel).sockets
    key = f"{agent_name}\t{instance_id}"
    created = now()
    direct = sockets.can_push_now(key)
    params = [agent_name, instance_id, None if pod_id is None else str(pod_id), event_type,
              json.dumps(payload, separators=(",", ":")), "claimed" if direct else "pending", int(direct),
              from_agent, created, created if direct else None]
    guard = ""
    if installation is not None:
        guard = _WHILE_ACTIVE
        params.append(str(installation.id))
    try:
        rows = await fetch_all(_INSERT.format(guard=guard), params)
    except IntegrityError:  # the pod was deleted after the caller looked
        return None
    if not rows:
        return None
    event = AgentEvent._init_from_db(**rows[0])
    if not direct or not await sockets.push(key, event):
        if direct:  # its socket left while it was stored: back to pending, for the next connection
            await fetch_all(_UNCLAIM, [event.id])
            event.status, event.attempts, event.claimed_at = "pending", 0, None
        await kernel.broadcast.publish(EVENT_READY, key)
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
    from .state import state_of  # the cache lives in the app's state, which imports this module

    installed = await state_of(kernel).installations.active_in(pod.id)
    produced = []
    for installation in _mentioned(installed, tokens):
        if str(installation.identity.user_id) == message.get("userId"):
            continue  # an agent's own message never wakes itself
        if message.get("isBot") and await _throttled(installation, pod.id):
            continue
        payload = {"messageId": message["id"], "content": message["content"], "userId": message.get("userId"),
                   "username": message.get("username"), "mentions": sorted(tokens)}
        event = await enqueue(kernel, agent_name=installation.agent_name, instance_id=installation.instance_id,
                              pod_id=pod.id, event_type="chat.mention", payload=payload,
                              from_agent=bool(message.get("isBot")), installation=installation)
        produced += [event] if event else []  # None: uninstalled or paused meanwhile
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
    event = await enqueue(kernel, agent_name=direct.identity.agent_name, instance_id=direct.identity.instance_id,
                          pod_id=pod.id, event_type="dm.message", payload=payload)
    return [event] if event else []


async def on_comment(kernel: Kernel, comment: Any, post: Any, mentions: list[str]) -> list[AgentEvent]:
    """``thread.mention`` for each mentioned agent that is installed where the post lives."""
    from commonly_auth import users_by_usernames

    users = await users_by_usernames(mentions)
    bot_ids = [user.id for user in users.values() if user.is_bot]
    if not bot_ids:
        return []
    pod_id = getattr(post, "pod_id", None)
    author_id = str(comment.author_id)  # the social plugin's Comment
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
        event = await enqueue(kernel, agent_name=identity.agent_name, instance_id=identity.instance_id,
                              pod_id=pod_id, event_type="thread.mention", payload=payload, installation=installation)
        produced += [event] if event else []
    return produced


# -- delivering --------------------------------------------------------------------------------


_CLAIM = (
    "UPDATE registry_agent_event SET status = 'claimed', attempts = attempts + 1, claimed_at = ? "
    "WHERE id IN (SELECT id FROM registry_agent_event WHERE agent_name = ? AND instance_id = ? "
    "AND status = 'pending' ORDER BY id LIMIT ?{lock}) RETURNING *"
)
_ACK = (
    "UPDATE registry_agent_event SET status = 'delivered', delivered_at = ?, delivery = ? "
    "WHERE id IN ({ids}) AND agent_name = ? AND instance_id = ? AND status <> 'delivered' RETURNING {columns}"
)
_MINE = "SELECT id FROM registry_agent_event WHERE id IN ({ids}) AND agent_name = ? AND instance_id = ?"
_REQUEUE = (
    "UPDATE registry_agent_event SET status = CASE WHEN attempts >= ? THEN 'failed' ELSE 'pending' END "
    "WHERE status = 'claimed' AND claimed_at < ?{mine} RETURNING agent_name, instance_id, status"
)


async def claim(config: RegistryConfig, agent_name: str, instance_id: str, limit: int, *,
                requeue: bool = True) -> list[AgentEvent]:
    """Claim up to ``limit`` pending events of one instance, oldest first (attempts + 1): one
    statement, so two claimers never take the same event (PostgreSQL also skips rows another
    claimer holds locked instead of waiting for them). Expired claims of the instance are
    requeued first unless ``requeue`` is False (a caller that just did)."""
    if requeue:
        await requeue_expired(config, agent_name=agent_name, instance_id=instance_id)
    postgres = connections.get("default").capabilities.dialect == "postgres"
    rows = await fetch_all(_CLAIM.format(lock=" FOR UPDATE SKIP LOCKED" if postgres else ""),
                           [now(), agent_name, instance_id, limit])
    return sorted((AgentEvent._init_from_db(**row) for row in rows), key=lambda event: event.id)


def _delivery(result: dict[str, Any] | None) -> dict[str, Any]:
    if result is not None and len(json.dumps(result, separators=(",", ":")).encode()) > MAX_RESULT_BYTES:
        raise PayloadTooLarge(f"`result` may hold at most {MAX_RESULT_BYTES} bytes.", code="result_too_large")
    return {"outcome": "acknowledged", **(result or {})}


async def _mark_delivered(agent_name: str, instance_id: str, event_ids: list[int], delivery: dict[str, Any],
                          columns: str) -> list[dict[str, Any]]:
    """One ``UPDATE … RETURNING``: the events of this instance among ``event_ids`` not delivered yet."""
    marks = ", ".join("?" * len(event_ids))
    return await fetch_all(_ACK.format(ids=marks, columns=columns),
                           [now(), json.dumps(delivery), *event_ids, agent_name, instance_id])


async def ack(config: RegistryConfig, kernel: Kernel, agent_name: str, instance_id: str, event_id: int,
              result: dict[str, Any] | None) -> AgentEvent:
    """Mark an event of this instance delivered (twice is harmless) and keep the result."""
    delivery = _delivery(result)
    rows = await _mark_delivered(agent_name, instance_id, [event_id], delivery, "*")
    if not rows:  # someone else's, unknown, or acked before
        event = await AgentEvent.get_or_none(id=event_id, agent_name=agent_name, instance_id=instance_id)
        if event is None:
            raise NotFound("No such event in your queue.", code="event_not_found")
        return event
    event = AgentEvent._init_from_db(**rows[0])
    await _retry_overflow(config, kernel, delivery, [event])
    return event


_ACK_EACH = (
    "UPDATE registry_agent_event SET status = 'delivered', delivered_at = ?, delivery = CASE id {cases} END "
    "WHERE id IN ({ids}) AND agent_name = ? AND instance_id = ? AND status <> 'delivered' RETURNING id"
)


async def ack_each(config: RegistryConfig, kernel: Kernel, agent_name: str, instance_id: str,
                   acks: list[tuple[int, dict[str, Any] | None]]) -> list[str | HTTPError]:
    """Several acks of this instance, each with its own result, in one statement (the socket's acks
    that arrive together): for each, ``"delivered"`` or the error the single ack would raise. The
    first result given for an event is kept, as with acks one after another."""
    answers: list[str | HTTPError | None] = [None] * len(acks)
    deliveries: dict[int, dict[str, Any]] = {}
    for n, (event_id, result) in enumerate(acks):
        try:
            delivery = _delivery(result)
        except HTTPError as refusal:
            answers[n] = refusal
            continue
        if _overflowed(delivery):  # rare: the single ack, which re-enqueues
            try:
                answers[n] = (await ack(config, kernel, agent_name, instance_id, event_id, result)).status
            except HTTPError as refusal:
                answers[n] = refusal
            continue
        deliveries.setdefault(event_id, delivery)
    if deliveries:
        cast = "CAST(? AS JSONB)" if connections.get("default").capabilities.dialect == "postgres" else "?"
        ids = list(deliveries)
        params: list[Any] = [now()]
        for event_id in ids:
            params += [event_id, json.dumps(deliveries[event_id])]
        params += [*ids, agent_name, instance_id]
        sql = _ACK_EACH.format(cases=" ".join(f"WHEN ? THEN {cast}" for _ in ids), ids=", ".join("?" * len(ids)))
        done = {row["id"] for row in await fetch_all(sql, params)}
        rest = [event_id for event_id in ids if event_id not in done]
        if rest:  # acked before (harmless), or not this instance's
            done |= {row["id"] for row in await fetch_all(_MINE.format(ids=", ".join("?" * len(rest))),
                                                           [*rest, agent_name, instance_id])}
        for n, (event_id, _result) in enumerate(acks):
            if answers[n] is None:
                answers[n] = "delivered" if event_id in done else \
                    NotFound("No such event in your queue.", code="event_not_found")
    return answers  # type: ignore[return-value]


async def ack_many(config: RegistryConfig, kernel: Kernel, agent_name: str, instance_id: str,
                   event_ids: list[int], result: dict[str, Any] | None) -> tuple[list[int], list[int]]:
    """Acknowledge several events of this instance with one result, in one statement:
    ``(acked, missing)`` in the order asked — acked are this instance's (delivered now or before),
    missing are unknown or someone else's (nothing changes for those)."""
    delivery = _delivery(result)
    wanted = list(dict.fromkeys(event_ids))
    if not wanted:
        return [], []
    overflowed = _overflowed(delivery)
    rows = await _mark_delivered(agent_name, instance_id, wanted, delivery, "*" if overflowed else "id")
    done = {row["id"] for row in rows}
    rest = [event_id for event_id in wanted if event_id not in done]
    if rest:
        done |= {row["id"] for row in await fetch_all(_MINE.format(ids=", ".join("?" * len(rest))),
                                                       [*rest, agent_name, instance_id])}
    if overflowed:
        await _retry_overflow(config, kernel, delivery, [AgentEvent._init_from_db(**row) for row in rows])
    return [event_id for event_id in wanted if event_id in done], [event_id for event_id in wanted
                                                                    if event_id not in done]


async def _retry_overflow(config: RegistryConfig, kernel: Kernel, delivery: dict[str, Any],
                          delivered: list[AgentEvent]) -> None:
    """Re-enqueue events just acked with a context-overflow error, up to the retry limit."""
    if not _overflowed(delivery):
        return
    for event in delivered:
        if event.payload.get("overflowRetries", 0) < config.overflow_retry_limit:
            payload = {**event.payload, "retry": "context-overflow",
                       "overflowRetries": event.payload.get("overflowRetries", 0) + 1}
            await enqueue(kernel, agent_name=event.agent_name, instance_id=event.instance_id, pod_id=event.pod_id,
                          event_type=event.type, payload=payload)


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
