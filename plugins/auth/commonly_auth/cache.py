"""The users behind recent tokens, kept per process so that checking a token on every request
does not cost a database read (through the ORM, that read is most of the request's time).

Every change this plugin makes to a user (ban, role, deletion, password) is broadcast through the
kernel, and each process drops its copy at once (across processes through Redis when
``REDIS_URL`` is set). ``COMMONLY_AUTH_CACHE_SECONDS`` bounds how long a copy may live anyway,
for changes made behind the plugin's back (an UPDATE by hand, several processes without Redis);
0 turns the cache off.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from .models import User

#: The broadcast channel on which a changed user's id is announced.
USER_CHANGED = "auth.user-changed"


class UserCache:
    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, User]] = OrderedDict()

    def get(self, user_id: str) -> User | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            del self._entries[user_id]
            return None
        self._entries.move_to_end(user_id)
        return entry[1]

    def put(self, user: User) -> None:
        if self.ttl <= 0:
            return
        self._entries[str(user.id)] = (time.monotonic(), user)
        self._entries.move_to_end(str(user.id))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def evict(self, user_id: object) -> None:
        self._entries.pop(str(user_id), None)
