"""The pods plugin's hooks: its table of contents."""

from __future__ import annotations

from quart import Blueprint

from commonly_kernel import Actor, Job, Kernel, Models, Settings, SocketHandler, hookimpl
from commonly_kernel.realtime import Realtime

from . import messages, routes
from .cache import CACHE, MESSAGES_CHANGED, POD_CHANGED
from .config import config_for
from .pods import MEMBER_LEFT
from .state import state_for, state_of

name = "pods"
requires: tuple[str, ...] = ("auth",)


@hookimpl
def commonly_register_models() -> list[Models]:
    return [Models("pods", ["commonly_pods.models"])]


@hookimpl
def commonly_register_blueprints(settings: Settings) -> list[Blueprint]:
    config_for(settings)  # a malformed setting stops startup
    return [routes.blueprint]


@hookimpl
def commonly_register_socket_handlers(realtime: Realtime) -> list[SocketHandler]:
    return state_for(realtime).sockets.handlers()


@hookimpl
def commonly_register_jobs(settings: Settings) -> list[Job]:
    hours = config_for(settings).idempotency_hours

    async def purge(kernel: Kernel) -> None:
        await messages.purge_idempotency_keys(kernel, hours)

    return [Job("pods.purge-idempotency-keys", every=3600, run=purge)]


@hookimpl
def commonly_startup(kernel: Kernel) -> None:
    sockets = state_of(kernel).sockets
    sockets.bind(kernel)
    kernel.broadcast.subscribe(MEMBER_LEFT, sockets.member_left)
    CACHE.ttl = config_for(kernel.settings).cache_seconds
    kernel.broadcast.subscribe(POD_CHANGED, CACHE.pod_changed)
    kernel.broadcast.subscribe(MESSAGES_CHANGED, CACHE.messages_changed)


@hookimpl
async def commonly_socket_connected(realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
    if namespace == "/":
        await state_for(realtime).sockets.connected(sid, actor)


@hookimpl
async def commonly_socket_disconnected(realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
    if namespace == "/":
        await state_for(realtime).sockets.disconnected(sid)


