"""Notes to every process of a deployment (cache evictions and the like).

With ``REDIS_URL`` a note goes through Redis pub/sub to every process, this one included; without
it, only this process exists as far as the kernel knows. Either way the publishing process's own
handlers run before ``publish`` returns, so a change is visible at once where it was made.
Handlers must be cheap and must not raise; a failing one is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from redis import asyncio as aioredis

log = logging.getLogger("commonly.broadcast")

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
        """Deliver ``message`` (JSON-able) here now, and to the other processes through Redis."""
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
