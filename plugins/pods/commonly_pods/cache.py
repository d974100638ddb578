"""Per-process copies of what every message page reads: the pod with the caller's role in it, and
the rendered pages themselves.

A page is read far more often than a pod changes: members keep their clients open and poll or
reload. Every change that matters is announced through the kernel's broadcast (so across
processes with ``REDIS_URL``) and drops the copies at once in every process: a pod's row or
members changing (``POD_CHANGED``), a message posted or deleted (``MESSAGES_CHANGED``).
``COMMONLY_PODS_CACHE_SECONDS`` (10) bounds what a change made behind the plugin's back can leave
stale (an author renamed, several processes without Redis); 0 turns the cache off.

One cache per process: keys are pod and user UUIDs, so apps sharing a process (tests) never meet.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

POD_CHANGED = "pods.pod-changed"  # message: the pod id
MESSAGES_CHANGED = "pods.messages-changed"  # message: the pod id


class PodCache:
    def __init__(self, ttl: float = 10.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._access: OrderedDict[tuple[str, str], tuple[float, dict[str, Any], str | None]] = OrderedDict()
        self._pages: OrderedDict[tuple[Any, ...], tuple[float, int, bytes, int | None]] = OrderedDict()
        self._versions: dict[str, int] = {}

    # -- the pod and the caller's role ----------------------------------------------------------

    def access(self, pod_id: str, user_id: str) -> tuple[dict[str, Any], str | None] | None:
        entry = self._fresh(self._access, (pod_id, user_id))
        return (entry[1], entry[2]) if entry else None

    def keep_access(self, pod_id: str, user_id: str, row: dict[str, Any], role: str | None) -> None:
        self._keep(self._access, (pod_id, user_id), (time.monotonic(), row, role))

    def pod_changed(self, pod_id: object) -> None:
        """A broadcast handler: the pod's row or members changed."""
        for key in [key for key in self._access if key[0] == str(pod_id)]:
            del self._access[key]

    # -- rendered message pages -----------------------------------------------------------------

    def version(self, pod_id: str) -> int:
        """Take it before reading a page: a message posted meanwhile makes that page stale at once."""
        return self._versions.get(pod_id, 0)

    def page(self, key: tuple[Any, ...]) -> tuple[bytes, int | None] | None:
        entry = self._fresh(self._pages, key)
        if entry is None or entry[1] != self.version(key[0]):
            return None
        return entry[2], entry[3]

    def keep_page(self, key: tuple[Any, ...], version: int, body: bytes, cursor: int | None) -> None:
        self._keep(self._pages, key, (time.monotonic(), version, body, cursor))

    def messages_changed(self, pod_id: object) -> None:
        """A broadcast handler: a message was posted or deleted in the pod."""
        self._versions[str(pod_id)] = self.version(str(pod_id)) + 1

    # -- internals ------------------------------------------------------------------------------

    def _fresh(self, entries: OrderedDict[Any, Any], key: Any) -> Any:
        entry = entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            del entries[key]
            return None
        entries.move_to_end(key)
        return entry

    def _keep(self, entries: OrderedDict[Any, Any], key: Any, entry: Any) -> None:
        if self.ttl <= 0:
            return
        entries[key] = entry
        entries.move_to_end(key)
        while len(entries) > self.size:
            entries.popitem(last=False)


CACHE = PodCache()
