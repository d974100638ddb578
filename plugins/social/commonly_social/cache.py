"""Rendered bodies of the hot reads (the post list, the feed), kept per process.

Reading a page costs a handful of queries; most readers ask for the same page again and again
while nothing changed. So each process keeps the JSON it answered, per caller and query, and
answers it again until something in the social plugin changes. Any change — a post, a like, a
comment, a follow, a read mark, a recorded activity, a profile, a pod membership — bumps one
generation number (``changed``), which empties every process's cache at once: through the
kernel's broadcast, so across processes with ``REDIS_URL``. Entries also expire after
``COMMONLY_SOCIAL_CACHE_SECONDS`` (10), which bounds what a change made behind the plugin's back
(several processes without Redis, a pod renamed) can leave stale; 0 turns the cache off.

A body is stored with the generation it was computed under, taken before its first query: a
change that commits while it is being computed makes it stale at once.
"""

from __future__ import annotations

import gzip
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from quart import Response, request

from commonly_kernel import Kernel, current_actor, kernel

#: The broadcast channel that announces a change (any message).
CHANGED = "social.changed"
EXTENSION = "commonly_social"
MAX_ENTRIES = 2_000


@dataclass
class Entry:
    generation: int
    stored: float
    body: bytes
    headers: dict[str, str]
    gzipped: bytes | None = None


@dataclass(eq=False)
class ResponseCache:
    ttl: float
    size: int = MAX_ENTRIES
    generation: int = 0
    _entries: OrderedDict[tuple[Any, ...], Entry] = field(default_factory=OrderedDict)

    def get(self, key: tuple[Any, ...]) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != self.generation or time.monotonic() - entry.stored > self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[Any, ...], entry: Entry) -> None:
        if self.ttl <= 0 or entry.generation != self.generation:
            return  # computed before a change that has happened since
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def changed(self, _message: Any = None) -> None:
        """Something changed: every stored body is stale (a broadcast handler)."""
        self.generation += 1
        self._entries.clear()


_caches: weakref.WeakSet[ResponseCache] = weakref.WeakSet()


def install(app_kernel: Kernel) -> ResponseCache:
    """Make this app's cache and listen for changes (``commonly_startup``)."""
    cache = ResponseCache(ttl=app_kernel.settings.get_float("COMMONLY_SOCIAL_CACHE_SECONDS", 10.0))
    app_kernel.quart.extensions[EXTENSION] = cache
    app_kernel.broadcast.subscribe(CHANGED, cache.changed)
    _caches.add(cache)
    return cache


async def changed(app_kernel: Kernel) -> None:
    """Announce a change to every process (this one at once, before returning)."""
    await app_kernel.broadcast.publish(CHANGED, 1)


async def changed_from_hook() -> None:
    """``changed`` for domain hooks, which get no kernel: the current app's when there is one
    (inside a request); else every cache of this process (a job), other processes by their TTL."""
    try:
        app_kernel = kernel()
    except RuntimeError:  # outside an app context
        for cache in list(_caches):
            cache.changed()
        return
    await changed(app_kernel)


def cached(view: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Response]]:
    """Serve a GET view's 200 body from the cache, keyed by caller and validated query.

    Goes between ``validate_querystring`` (the key is the validated query) and
    ``validate_response`` (whose model it renders to JSON itself, once, when it stores it).
    """

    @wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        cache: ResponseCache | None = kernel().quart.extensions.get(EXTENSION)
        query_args = kwargs.get("query_args")
        key = (view.__name__, current_actor().id, *(sorted(query_args.model_dump().items()) if query_args else ()))
        if cache is not None and (entry := cache.get(key)) is not None:
            return _respond(entry)
        generation = cache.generation if cache is not None else 0
        result = await view(*args, **kwargs)
        model, status, headers = result if isinstance(result, tuple) else (result, 200, {})
        entry = Entry(generation, time.monotonic(), model.model_dump_json(by_alias=True).encode(), dict(headers or {}))
        if cache is not None and status == 200:
            cache.put(key, entry)
        return _respond(entry, status)

    return wrapper


def _respond(entry: Entry, status: int = 200) -> Response:
    body, headers = entry.body, dict(entry.headers)
    minimum = kernel().settings.gzip_min_bytes
    if 0 < minimum <= len(body) and "gzip" in request.headers.get("Accept-Encoding", ""):
        if entry.gzipped is None:
            entry.gzipped = gzip.compress(body, compresslevel=5)  # once per entry, not per request
        body = entry.gzipped
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(body, status=status, headers=headers, mimetype="application/json")
