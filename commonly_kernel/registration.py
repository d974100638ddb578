"""What registration and contribution hooks return. Each object names itself, so the kernel can
say which plugin it came from and refuse duplicates at startup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Kernel


@dataclass(frozen=True)
class Models:
    """A plugin's Tortoise models: one app ``label`` (relations say ``"label.Model"``)."""

    label: str
    modules: tuple[str, ...]

    def __init__(self, label: str, modules: list[str] | tuple[str, ...]) -> None:
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "modules", tuple(modules))


@dataclass(frozen=True)
class SocketHandler:
    """A socket.io event handler: ``await handler(sid, data)``; its return value is the ack.

    The connected actor is ``await kernel.realtime.actor(sid, namespace)``. Raising an
    ``HTTPError`` answers the ack with the error envelope and emits it as ``error``.
    """

    event: str
    handler: Callable[[str, Any], Awaitable[Any]]
    namespace: str = "/"


@dataclass(frozen=True)
class Job:
    """A periodic job: ``await run(kernel)`` every ``every`` seconds, in one process at a time.

    ``timeout`` (default: ``every``) bounds one run; the database lease lasts that long, so a
    crashed process frees the job after at most that.
    """

    name: str
    every: float
    run: Callable[[Kernel], Awaitable[None]]
    timeout: float | None = None

    @property
    def lease_seconds(self) -> float:
        return self.timeout if self.timeout is not None else self.every


@dataclass
class ContextSection:
    """One section of a pod's context. Sections are merged by ``priority`` (high first), then
    ``name``; a section's ``content`` is whatever JSON its plugin documents."""

    name: str
    content: Any
    priority: int = 0
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ContextSearch:
    """A plugin's answer to a pod memory search: ``mode`` names how it searched (``semantic``),
    ``results`` are ``{assetId, title, type, tags, score, snippet, createdAt}``, best first."""

    mode: str
    results: list[dict[str, Any]]
