"""Pod messages: one way in (``post_message``) whether they arrive over REST, socket.io or from
an agent — stored once, broadcast once, passed to the ``message_created`` hook once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from commonly_auth import cached_users_by_ids
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from commonly_kernel import (
    Actor,
    Conflict,
    Forbidden,
    Kernel,
    NotFound,
    RuleRefused,
    Unauthorized,
    ValidationFailed,
    fetch_all,
)

from .cache import CACHE, MESSAGES_CHANGED
from .models import IdempotencyKey, Message, Pod
from .pods import PodAccess

MAX_CONTENT = 20_000
MAX_ATTACHMENTS = 20
MESSAGE_FIELDS = ("id", "pod_id", "user_id", "content", "message_type", "attachments", "reply_to_message_id",
                  "created_at")


class IdempotencyKeyReused(ValidationFailed):
    status = 422


def room(pod_id: object) -> str:
    return f"pod:{pod_id}"


def user_room(user_id: object) -> str:
    return f"user:{user_id}"


async def post_message(kernel: Kernel, pod: Pod, author: Actor, content: str, *,
                       attachments: Iterable[str] = (), reply_to: int | None = None, message_type: str = "text",
                       idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
    """Store a message, broadcast it to the pod's room and run the ``message_created`` hook.

    Returns ``(message, created)``; ``created`` is False when ``idempotency_key`` was seen before
    from this author with the same request (the first message is returned, nothing is sent again).
    The caller has checked that ``author`` may post in ``pod``.
    """
    attachments = list(attachments)
    _check_content(content, attachments)
    if reply_to is not None and not await Message.exists(id=reply_to, pod_id=pod.id):
        raise RuleRefused("`replyToMessageId` is not a message of this pod.", code="invalid_reply")
    request_hash = _request_hash(pod.id, content, attachments, reply_to)
    if idempotency_key is not None:
        replay = await _replay(kernel, author.id, idempotency_key, request_hash)
        if replay is not None:
            return replay, False
    values = [str(pod.id), author.id, content, json.dumps(attachments), reply_to, message_type, datetime.now(UTC)]
    try:
        if idempotency_key is None:
            row = (await fetch_all(_INSERT, values))[0]
        else:
            async with in_transaction():  # the message and its key together, or neither
                row = (await fetch_all(_INSERT, values))[0]
                await IdempotencyKey.create(user_id=author.id, key=idempotency_key, request_hash=request_hash,
                                            message_id=row["id"])
    except IntegrityError:
        # The same key committed by a concurrent request between our check and our insert; or the
        # pod, or the author's account, deleted since the caller looked.
        if idempotency_key is not None:
            replay = await _replay(kernel, author.id, idempotency_key, request_hash)
            if replay is not None:
                return replay, False
        if not await Pod.exists(id=pod.id):
            raise NotFound("No such pod.", code="pod_not_found") from None
        if idempotency_key is not None:
            raise Conflict("A request with this Idempotency-Key is still running; retry.",
                           code="idempotency_in_progress") from None
        raise Unauthorized("This account no longer exists.", code="unauthorized") from None
    await kernel.broadcast.publish(MESSAGES_CHANGED, str(pod.id))
    message = (await serialize(kernel, [row]))[0]
    await publish(kernel, pod, message)
    await kernel.hooks.message_created(message, pod)
    return message, True


async def publish(kernel: Kernel, pod: Pod, message: dict[str, Any]) -> None:
    """Send a stored message to the pod's room, under both names clients listen for."""
    await kernel.realtime.emit("message", message, room=room(pod.id))
    await kernel.realtime.emit("newMessage", message, room=room(pod.id))


def check_may_post(granted: PodAccess) -> None:
    """Members post; an agent's token also needs ``messages:write``."""
    if not granted.is_member:
        raise Forbidden("Only members of this pod may post in it.", code="not_a_member")
    if not granted.actor.allows("messages:write", granted.pod.id):
        raise Forbidden("The token lacks the scope messages:write.", code="missing_scope",
                        details={"missing": ["messages:write"]})


def _check_content(content: str, attachments: list[str]) -> None:
    # The REST schemas check these too; socket.io payloads and other plugins' calls arrive here only.
    if len(content) > MAX_CONTENT:
        raise _invalid("content", f"A message holds at most {MAX_CONTENT} characters.", "string_too_long")
    if not content.strip() and not attachments:
        raise _invalid("content", "A message needs content or an attachment.", "missing")
    if len(attachments) > MAX_ATTACHMENTS:
        raise _invalid("attachments", f"A message holds at most {MAX_ATTACHMENTS} attachments.", "too_long")


def _invalid(field: str, message: str, kind: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field, "message": message, "type": kind}])


def _request_hash(pod_id: object, content: str, attachments: list[str], reply_to: int | None) -> str:
    # The pod is part of the request: the same key and text sent to another pod is a reuse (422),
    # not a retry answered with a message of the first pod.
    body = json.dumps([str(pod_id), content, attachments, reply_to], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


async def _replay(kernel: Kernel, user_id: str, key: str, request_hash: str) -> dict[str, Any] | None:
    seen = await IdempotencyKey.get_or_none(user_id=user_id, key=key)
    if seen is None:
        return None
    if seen.request_hash != request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used for a different message.",
                                   code="idempotency_key_reused")
    rows = await Message.filter(id=seen.message_id).values(*MESSAGE_FIELDS)
    return (await serialize(kernel, rows))[0] if rows else None


async def purge_idempotency_keys(kernel: Kernel, hours: float) -> int:
    """Forget keys older than ``hours`` (the spec keeps them at least 24 h)."""
    return await IdempotencyKey.filter(created_at__lt=datetime.now(UTC) - timedelta(hours=hours)).delete()


_COLUMNS = "id, pod_id, user_id, content, message_type, attachments, reply_to_message_id, created_at"
# One constant statement, not the ORM's create: the hottest write there is (a message per chat line).
_INSERT = ("INSERT INTO pods_message (pod_id, user_id, content, attachments, reply_to_message_id, message_type, "
           f"created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}")
_NEWEST = f"SELECT {_COLUMNS} FROM pods_message WHERE pod_id = ? ORDER BY id DESC LIMIT ?"
_BEFORE = f"SELECT {_COLUMNS} FROM pods_message WHERE pod_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
_AFTER = f"SELECT {_COLUMNS} FROM pods_message WHERE pod_id = ? AND id > ? ORDER BY id LIMIT ?"


async def page(kernel: Kernel, pod: Pod, *, before: int | None, after: int | None,
               limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """A page of messages, oldest first, and the cursor of the next page (None at the end).

    Without ``after``: the newest ``limit`` messages (older than ``before``); the cursor is the
    oldest id when older ones exist. With ``after``: the oldest ``limit`` newer than it; the cursor
    is the newest id when newer ones remain (how a client tails a pod without gaps). Constant SQL
    strings, not querysets: this is the hottest read there is.
    """
    pod_id = str(pod.id)
    if after is not None:
        rows = await fetch_all(_AFTER, [pod_id, after, limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        return await serialize(kernel, rows), (rows[-1]["id"] if more else None)
    if before is not None:
        rows = await fetch_all(_BEFORE, [pod_id, before, limit + 1])
    else:
        rows = await fetch_all(_NEWEST, [pod_id, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit][::-1]
    return await serialize(kernel, rows), (rows[0]["id"] if more else None)


async def rendered_page(kernel: Kernel, pod: Pod, *, before: int | None, after: int | None,
                        limit: int) -> tuple[bytes, int | None]:
    """``page`` as JSON bytes, from this process's cache while no message of the pod changed."""
    key = (str(pod.id), before, after, limit)
    cached = CACHE.page(key)
    if cached is not None:
        return cached
    version = CACHE.version(str(pod.id))
    found, cursor = await page(kernel, pod, before=before, after=after, limit=limit)
    body = json.dumps(found, ensure_ascii=False, separators=(",", ":")).encode()
    CACHE.keep_page(key, version, body, cursor)
    return body, cursor


async def delete_message(kernel: Kernel, granted: PodAccess, message_id: int) -> None:
    """Authors delete their own messages; pod admins anyone's."""
    message = await Message.get_or_none(id=message_id, pod_id=granted.pod.id)
    if message is None:
        raise NotFound("No such message in this pod.", code="message_not_found")
    if str(message.user_id) != granted.actor.id and not granted.acts_as_admin:
        raise Forbidden("Only the author or the pod's admin may delete this message.", code="not_allowed")
    await message.delete()
    await kernel.broadcast.publish(MESSAGES_CHANGED, str(granted.pod.id))
    await kernel.realtime.emit("messageDeleted", {"podId": str(granted.pod.id), "messageId": message_id},
                               room=room(granted.pod.id))


async def serialize(kernel: Kernel, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the wire shows them; authors come from the auth plugin's per-process cache.
    The flat ``username`` and ``isBot`` repeat the author's for the original clients."""
    authors = await cached_users_by_ids({row["user_id"] for row in rows if row["user_id"]}, kernel.settings)
    return [_wire(row, authors.get(str(row["user_id"]))) for row in rows]


def _wire(row: dict[str, Any], author: Any) -> dict[str, Any]:
    """One message from a database row: ORM values, or raw driver values (text timestamps and
    JSON on SQLite, text JSON on PostgreSQL)."""
    author_out = {
        "id": str(author.id), "_id": str(author.id), "username": author.username,
        "profilePicture": author.profile_picture, "isBot": author.is_bot,
    } if author else None
    attachments = row["attachments"]
    if isinstance(attachments, str):
        attachments = [] if attachments == "[]" else json.loads(attachments)
    return {
        "id": row["id"], "_id": row["id"], "podId": str(row["pod_id"]),
        "userId": str(row["user_id"]) if row["user_id"] else None,
        "content": row["content"], "messageType": row["message_type"], "attachments": attachments,
        "replyToMessageId": row["reply_to_message_id"],
        "createdAt": _timestamp(row["created_at"]),
        "author": author_out,
        "username": author.username if author else "[deleted]",
        "isBot": author.is_bot if author else False,
    }


def _timestamp(value: datetime | str) -> str:
    """ISO-8601 UTC with ``Z``, as pydantic writes the other routes' timestamps."""
    if isinstance(value, str):  # SQLite keeps "2026-12-06 12:13:51.555698+00:00"
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
