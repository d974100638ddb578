"""``create_app``: the plugin manager, Quart, socket.io, the database and the scheduler, wired."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pluggy
import socketio
from quart import Blueprint, Quart

from .broadcast import Broadcast, context_without_held
from .db import close_database, collect_models, open_database
from .errors import StartupError
from .hooks import Hooks
from .plugins import PluginInfo, build_plugin_manager
from .realtime import Realtime
from .registration import Models
from .routes import kernel_blueprint
from .scheduler import Scheduler, collect_jobs
from .settings import Settings
from .web import install_error_handlers, install_middleware, install_rate_limiter, install_schema

log = logging.getLogger("commonly")

try:
    __version__ = version("commonly-kernel")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"


@dataclass
class Kernel:
    """Everything one app is made of; plugins receive it in lifecycle hooks and jobs.

    Also reachable as ``current_app.extensions["commonly"]`` inside a request.
    """

    settings: Settings
    pm: pluggy.PluginManager
    hooks: Hooks
    plugins: list[PluginInfo]
    quart: Quart
    realtime: Realtime
    broadcast: Broadcast = field(default_factory=lambda: Broadcast(None))
    models: list[Models] = field(default_factory=list)
    scheduler: Scheduler = field(default_factory=lambda: Scheduler([]))
    version: str = __version__
    started_at: float = field(default_factory=time.monotonic)
    _background: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    def spawn(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``work`` after the response, tracked so shutdown waits for it (mails, webhooks).
        Its exceptions are logged."""
        task = asyncio.create_task(work, name=name, context=context_without_held())
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every spawned task (called on shutdown, and by tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


class CommonlyApp(socketio.ASGIApp):
    """The ASGI app: socket.io at ``/socket.io``, everything else handled by Quart."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel.realtime.sio, other_asgi_app=kernel.quart)
        self.kernel = kernel

    @property
    def quart(self) -> Quart:
        return self.kernel.quart


def create_app(settings: Settings | None = None, *, plugins: Sequence[str | object] | None = None) -> CommonlyApp:
    """Build the app from ``settings`` (default: the environment) and the chosen plugins
    (default: every installed one, narrowed by ``COMMONLY_PLUGINS``)."""
    settings = settings or Settings.from_env()
    settings.env  # noqa: B018 - a typo in COMMONLY_ENV fails now, not in the first request that reads it
    settings.jwt_secret  # noqa: B018 - fail now, not at the first login, when it is missing
    pm, infos = build_plugin_manager(settings, plugins)
    hooks = Hooks(pm)
    quart = Quart("commonly")
    quart.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # No redirects with HTML bodies: "//x" and "/x/" are simply other paths (404 envelope).
    quart.url_map.merge_slashes = False
    kernel = Kernel(settings, pm, hooks, infos, quart, Realtime(settings, hooks),
                    Broadcast(settings.redis_url, settings.redis_channel_prefix))
    hooks.kernel = kernel
    quart.extensions["commonly"] = kernel

    install_schema(quart, kernel.version)
    install_middleware(quart, settings)
    install_error_handlers(quart)
    install_rate_limiter(quart, settings)
    kernel.models = collect_models(hooks.register_models(settings))
    _register_blueprints(quart, [("kernel", kernel_blueprint), *hooks.register_blueprints(settings)])
    kernel.realtime.add_handlers(hooks.register_socket_handlers(kernel.realtime))
    kernel.scheduler = Scheduler(collect_jobs(hooks.register_jobs(settings)))
    _install_lifecycle(kernel)
    return CommonlyApp(kernel)


def _register_blueprints(quart: Quart, blueprints: Iterable[tuple[str, Blueprint]]) -> None:
    owners: dict[str, str] = {}
    for plugin_name, blueprint in blueprints:
        if blueprint.name in owners:
            raise StartupError(
                f"blueprint {blueprint.name!r} is claimed by both {owners[blueprint.name]!r} and {plugin_name!r}"
            )
        owners[blueprint.name] = plugin_name
        quart.register_blueprint(blueprint)


def _install_lifecycle(kernel: Kernel) -> None:
    @kernel.quart.before_serving
    async def start() -> None:
        kernel.started_at = time.monotonic()
        await open_database(kernel.settings, kernel.models)
        try:
            await kernel.broadcast.start()
            await kernel.realtime.start()
            await kernel.hooks.startup(kernel)
        except BaseException:
            # after_serving never runs when startup fails; Tortoise's connections are process-wide.
            await kernel.realtime.stop()
            await kernel.broadcast.stop()
            await close_database()
            raise
        if kernel.settings.scheduler_enabled:
            kernel.scheduler.start(kernel)
        if kernel.settings.gc_freeze:
            # What is alive now (modules, schemas, ORM metadata, plugin state: ~100k objects) lives
            # as long as the process. Left in the collector's care, every full collection walks all
            # of it: a 70-100 ms pause, a few times a minute under socket traffic, which was most
            # of the realtime p99. Frozen, a full collection walks only what came later.
            gc.collect()
            gc.freeze()

    @kernel.quart.after_serving
    async def stop() -> None:
        if kernel.settings.gc_freeze:
            gc.unfreeze()
        await kernel.scheduler.stop()
        await kernel.drain()
        await kernel.hooks.shutdown(kernel)
        await kernel.realtime.stop()
        await kernel.broadcast.stop()
        await close_database()
