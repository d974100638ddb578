"""The socket.io server mounted beside Quart on one port.

Every connection is authenticated when it connects, through the same actor lookup as HTTP
(``commonly_actor_from_token``): the token comes from the client's ``auth`` payload
(``{"token": ...}``), an ``Authorization``/``x-auth-token``/``x-commonly-agent-token`` header, or
a ``token`` query parameter. Refused connections get ``{"error", "message"}`` as the
connect-error data. With ``REDIS_URL`` set, emits fan out across processes through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from .auth import Actor, token_from_headers
from .errors import HTTPError, StartupError, error_envelope
from .registration import SocketHandler

if TYPE_CHECKING:
    from .hooks import Hooks
    from .settings import Settings

log = logging.getLogger("commonly.realtime")

RESERVED_EVENTS = {"connect", "disconnect", "connect_error"}


class Realtime:
    """The socket.io server, its authenticated sessions, and room helpers for plugins."""

    def __init__(self, settings: Settings, hooks: Hooks) -> None:
        self._settings = settings
        self._hooks = hooks
        manager = (RedisFanout(settings.redis_url, channel=f"{settings.redis_channel_prefix}:socketio")
                   if settings.redis_url else DirectFanout())
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=list(settings.frontend_urls),
            logger=False,
            engineio_logger=False,
        )
        self._events: dict[tuple[str, str], str] = {}
        self._namespaces: set[str] = set()
        self._authenticate_namespace("/")

    async def start(self) -> None:
        """Start the fan-out now (python-socketio starts it at the first connection). With Redis,
        this process is then subscribed before any client is here: an emit another process makes
        just after a client's first connection would otherwise reach no listener and be lost."""
        if self.sio.manager_initialized:
            return
        self.sio.manager_initialized = True
        self.sio.manager.initialize()
        if isinstance(self.sio.manager, RedisFanout):
            await self.sio.manager.until_subscribed()

    async def stop(self) -> None:
        """Stop listening to the other processes (the listener would otherwise outlive the app)."""
        listener = getattr(self.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task) and not listener.done():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if isinstance(self.sio.manager, RedisFanout):
            await self.sio.manager.close()
        self.sio.manager_initialized = False  # a later start() listens again

    def add_handlers(self, handlers: Iterable[tuple[str, SocketHandler]]) -> None:
        """Register plugins' handlers; a reserved or doubly claimed event stops startup."""
        for plugin_name, handler in handlers:
            key = (handler.namespace, handler.event)
            if handler.event in RESERVED_EVENTS:
                raise StartupError(
                    f"plugin {plugin_name!r} registers the reserved socket event {handler.event!r}; "
                    "use commonly_socket_connected / commonly_socket_disconnected"
                )
            if key in self._events:
                raise StartupError(
                    f"socket event {handler.event!r} in namespace {handler.namespace!r} is claimed by "
                    f"both {self._events[key]!r} and {plugin_name!r}"
                )
            self._events[key] = plugin_name
            self._authenticate_namespace(handler.namespace)
            self.sio.on(handler.event, namespace=handler.namespace)(self._guarded(handler))

    @property
    def events(self) -> dict[tuple[str, str], str]:
        """(namespace, event) → plugin name, for every registered handler."""
        return dict(self._events)

    async def actor(self, sid: str, namespace: str = "/") -> Actor:
        """The actor a connected socket authenticated as."""
        session = await self.sio.get_session(sid, namespace=namespace)
        return session["actor"]

    async def emit(self, event: str, data: Any, *, room: str | None = None, to: str | None = None,
                   namespace: str = "/", skip_sid: str | None = None) -> None:
        await self.sio.emit(event, data, room=room, to=to, namespace=namespace, skip_sid=skip_sid)

    async def enter_room(self, sid: str, room: str, namespace: str = "/") -> None:
        await self.sio.enter_room(sid, room, namespace=namespace)

    async def leave_room(self, sid: str, room: str, namespace: str = "/") -> None:
        await self.sio.leave_room(sid, room, namespace=namespace)

    # -- internals --------------------------------------------------------------------------

    def _authenticate_namespace(self, namespace: str) -> None:
        if namespace in self._namespaces:
            return
        self._namespaces.add(namespace)

        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            token = _token(environ, auth)
            try:
                # Like HTTP (auth.resolve_actor): plugins are never asked about a missing token.
                actor = await self._hooks.actor_from_token(token, self._settings) if token else None
            except HTTPError as error:
                raise _refusal(error.code, error.message) from None
            if actor is None:
                raise _refusal("unauthorized", "A valid token is required.")
            await self.sio.save_session(sid, {"actor": actor}, namespace=namespace)
            try:
                await self._hooks.socket_connected(self, sid, actor, namespace)
            except HTTPError as error:  # a plugin refused this actor on this namespace
                raise _refusal(error.code, error.message) from None

        async def disconnect(sid: str, *args: Any) -> None:
            session = await self.sio.get_session(sid, namespace=namespace)
            if "actor" in session:
                await self._hooks.socket_disconnected(self, sid, session["actor"], namespace)

        self.sio.on("connect", namespace=namespace)(connect)
        self.sio.on("disconnect", namespace=namespace)(disconnect)

    def _guarded(self, handler: SocketHandler) -> Any:
        """Answer refusals with the error envelope (ack and ``error`` event), never a crash."""

        async def run(sid: str, *args: Any) -> Any:
            data = args[0] if args else None
            try:
                return await handler.handler(sid, data)
            except HTTPError as error:
                envelope = error_envelope(error.code, error.message, None, error.details)
            except Exception:
                log.exception("socket handler %r failed", handler.event)
                envelope = error_envelope("internal_error", "Something went wrong.", None)
            await self.sio.emit("error", {**envelope, "event": handler.event}, to=sid,
                                namespace=handler.namespace)
            return envelope

        return run


class DirectFanout(socketio.AsyncManager):
    """python-socketio's local delivery, one recipient after another instead of a task each.

    The stock manager spawns a task per recipient and waits for all of them. Putting a packet on
    an engine.io socket's queue never waits (the queue is unbounded), so the tasks buy nothing and
    cost a fifth of a pod message's fan-out; and because delivery now finishes before the emit
    returns, a message's two emits (``message`` and ``newMessage``) reach each socket's queue
    together and its writer wakes once for both, not twice. Emits that ask for acks keep the
    stock path (each recipient gets its own ack id).
    """

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
                   callback: Any = None, to: Any = None, **kwargs: Any) -> None:
        if callback is not None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to,
                               **kwargs)
            return
        # The argument rules of AsyncManager.emit: a tuple is several arguments, None is none.
        arguments = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skipped = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *arguments]).encode()
        packets = [eio_packet.Packet(eio_packet.MESSAGE, part)
                   for part in (encoded if isinstance(encoded, list) else [encoded])]
        for sid, eio_sid in self.get_participants(namespace, to or room):
            if sid not in skipped:
                for part in packets:
                    await self.server._send_eio_packet(eio_sid, part)


class RedisFanout(socketio.AsyncRedisManager, DirectFanout):
    """Across processes through Redis; each process delivers its share as ``DirectFanout`` does
    (the pub/sub manager's local delivery calls the next ``emit`` in this order)."""

    async def until_subscribed(self, timeout: float = 10.0) -> None:
        """Wait for the listener's SUBSCRIBE; with Redis down, log and go on (the listener retries)."""
        deadline = time.monotonic() + timeout
        while not (getattr(self, "pubsub", None) is not None and self.pubsub.subscribed):
            if time.monotonic() > deadline or (self.thread is not None and self.thread.done()):
                log.warning("socket.io fan-out is not subscribed to Redis yet; it keeps trying")
                return
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Release the Redis connections (at shutdown, after the listener stopped)."""
        for connection in (getattr(self, "pubsub", None), getattr(self, "redis", None)):
            if connection is not None:
                with contextlib.suppress(Exception):  # already gone with Redis: nothing to release
                    await connection.aclose()


def _refusal(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    refusal = socketio.exceptions.ConnectionRefusedError(message)
    # python-socketio would send ``{"message": str(args[0])}``; clients read code and message.
    refusal.error_args = {"error": code, "message": message}
    return refusal


def _token(environ: dict[str, Any], auth: Any) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"].removeprefix("Bearer ").strip() or None
    headers = {
        name: environ.get("HTTP_" + name.upper().replace("-", "_"), "")
        for name in ("Authorization", "x-commonly-agent-token", "x-auth-token")
    }
    return token_from_headers(headers) or parse_qs(environ.get("QUERY_STRING", "")).get("token", [None])[0]
