"""Notes to every process of a deployment (cache evictions and the like).

With ``REDIS_URL`` a note goes through Redis pub/sub to every process, this one included; without
it, only this process exists as far as the kernel knows. Either way the publishing process's own
handlers run before ``publish`` returns, so a change is visible at once where it was made.
Handlers must be cheap and must not raise; a failing one is logged.

Inside ``held_until_done()`` (``commonly_kernel.transaction()`` opens one) notes wait for the
block to finish: a cache evicted before the commit could be filled again from the old rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any

from redis import asyncio as aioredis

log = logging.getLogger("commonly.broadcast")


@dataclass
class _Held:
    notes: list[tuple[Broadcast, str, Any]] = field(default_factory=list)
    open: bool = True  # a task spawned inside may publish after the block: then it goes out at once


_held: ContextVar[_Held | None] = ContextVar("commonly_held_notes", default=None)


def context_without_held() -> Context:
    """The current context, minus any held block: for a task started inside one, whose notes
    belong to its own work and must neither wait for nor die with the block's transaction."""
    context = copy_context()
    context.run(_held.set, None)
    return context


@contextlib.asynccontextmanager
async def held_until_done() -> AsyncIterator[None]:
    """Hold the notes published inside the block; send them, in order, when it finishes, and drop
    them when it raises. A block inside another joins the outer one. (An inner block that raised
    while the outer one went on still has its notes sent: a spare eviction is harmless.)"""
    if (outer := _held.get()) is not None and outer.open:
        yield
        return
    held = _Held()
    token = _held.set(held)
    try:
        yield
    finally:
        held.open = False
        _held.reset(token)
    for broadcast, channel, message in held.notes:
        try:
            await broadcast.publish(channel, message)
        except Exception:  # committed already: the others' notes must still go out
            log.exception("broadcast note on %r could not be sent", channel)


class Broadcast:
    def __init__(self, redis_url: str | None, channel_prefix: str = "commonly") -> None:
        self._redis_url = redis_url
        # Pub/sub channels are server-wide (the database number in the URL does not separate them).
        self._prefix = f"{channel_prefix}:broadcast:"
        self._handlers: dict[str, list[Callable[[Any], None]]] = defaultdict(list)
        self._origin = uuid.uuid4().hex
        self._redis: aioredis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None

    def subscribe(self, channel: str, handler: Callable[[Any], None]) -> None:
        """Call ``handler(message)`` for every note on ``channel``, from any process."""
        self._handlers[channel].append(handler)

    async def publish(self, channel: str, message: Any) -> None:
        """Deliver ``message`` (JSON-able) here now, and to the other processes through Redis
        (inside ``held_until_done()``: when that block finishes)."""
        held = _held.get()
        if held is not None and held.open:
            held.notes.append((self, channel, message))
            return
        self._deliver(channel, message)
        if self._redis is not None:
            payload = json.dumps({"origin": self._origin, "message": message})
            await self._redis.publish(self._prefix + channel, payload)

    async def start(self) -> None:
        if self._redis_url is None:
            return
        self._redis = aioredis.from_url(self._redis_url)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(self._prefix + "*")
        self._listener = asyncio.create_task(self._listen(pubsub), name="broadcast")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _listen(self, pubsub: Any) -> None:
        try:
            async for note in pubsub.listen():
                try:
                    body = json.loads(note["data"])
                except (TypeError, ValueError):
                    continue
                if body.get("origin") != self._origin:  # our own notes were delivered on publish
                    self._deliver(note["channel"].decode().removeprefix(self._prefix), body.get("message"))
        finally:
            await pubsub.aclose()

    def _deliver(self, channel: str, message: Any) -> None:
        for handler in self._handlers.get(channel, ()):
            try:
                handler(message)
            except Exception:
                log.exception("broadcast handler for %r failed", channel)
