"""The registry's hooks: its table of contents."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from commonly_kernel import Actor, Job, Kernel, Models, Settings, SocketHandler, hookimpl
from commonly_kernel.realtime import Realtime

from . import catalog, events, hookspecs, routes, runtime, service, skills, tokens
from .config import config_for
from .state import state_for, state_of

name = "registry"
requires: tuple[str, ...] = ("auth", "pods")


@hookimpl
def commonly_add_hookspecs(pm: Any) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl
def commonly_register_models() -> list[Models]:
    return [Models("registry", ["commonly_registry.models"])]


@hookimpl
def commonly_register_blueprints(settings: Settings) -> list[Blueprint]:
    config_for(settings)  # a malformed setting stops startup
    return [routes.blueprint, runtime.blueprint, skills.blueprint]


@hookimpl
def commonly_register_socket_handlers(realtime: Realtime) -> list[SocketHandler]:
    return state_for(realtime).sockets.handlers()


@hookimpl
def commonly_register_jobs(settings: Settings) -> list[Job]:
    config = config_for(settings)

    async def requeue(kernel: Kernel) -> None:
        await events.requeue_and_wake(config, kernel)

    async def purge(kernel: Kernel) -> None:
        await events.purge(config)

    return [Job("registry.requeue-expired-claims", every=config.requeue_every, run=requeue),
            Job("registry.purge-old-events", every=3600, run=purge)]


@hookimpl
async def commonly_startup(kernel: Kernel) -> None:
    state = state_of(kernel)
    state.catalog = catalog.load(kernel)
    state.sockets.bind(kernel)
    kernel.broadcast.subscribe(events.EVENT_READY, state.sockets.event_ready)
    kernel.broadcast.subscribe(tokens.TOKENS_CHANGED, tokens.cache_for(kernel.settings).clear)
    kernel.broadcast.subscribe(tokens.TOKENS_CHANGED, state.installations.clear)
    await service.ensure_default_gateway()


@hookimpl
async def commonly_actor_from_token(token: str, settings: Settings) -> Actor | None:
    """Runtime tokens (``cm_agent_…``) and bot user tokens (``cm_…``)."""
    return await tokens.actor_for_token(token, tokens.cache_for(settings))


@hookimpl
async def commonly_message_created(message: dict[str, Any], pod: Any, kernel: Kernel) -> None:
    """@mentions and DMs become agent events; subscribed agents get the message live."""
    await events.on_message(kernel, message, pod)
    await state_of(kernel).sockets.forward(message, str(pod.id))


@hookimpl
async def commonly_comment_created(comment: Any, post: Any, mentions: list[str], kernel: Kernel) -> None:
    await events.on_comment(kernel, comment, post, mentions)


@hookimpl
async def commonly_socket_connected(realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
    if namespace == "/agents":
        await state_for(realtime).sockets.connected(sid, actor)


@hookimpl
async def commonly_pod_deleted(pod_id: str, kernel: Kernel) -> None:
    """The pod's installations went with it (a database cascade): forget cached ones and the
    tokens' reach into it, in every process."""
    await tokens.changed(kernel)


@hookimpl
def commonly_socket_disconnected(realtime: Realtime, sid: str, namespace: str) -> None:
    if namespace == "/agents":
        state_for(realtime).sockets.disconnected(sid)
