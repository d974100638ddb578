"""The typed façade over the plugin manager: one method per hook. Nothing else calls ``pm.hook``.

pluggy is synchronous, so an ``async def`` implementation returns a coroutine. The façade calls
implementations one by one, awaits whatever is awaitable, and knows which plugin answered — so
startup errors and logged failures name the plugin.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import HTTPError, StartupError
from .registration import ContextSearch, ContextSection, Job, Models, SocketHandler

if TYPE_CHECKING:
    import click
    from quart import Blueprint

    from .app import Kernel
    from .auth import Actor
    from .realtime import Realtime
    from .settings import Settings

log = logging.getLogger("commonly.hooks")


def _invoke(impl: Any, kwargs: dict[str, Any]) -> Any:
    # An implementation takes any subset of the spec's arguments (pluggy's opt-in arguments).
    return impl.function(*[kwargs[arg] for arg in impl.argnames])


class Hooks:
    """Calls hooks on behalf of the kernel and of plugins (``kernel.hooks.message_created(...)``)."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        #: Set by ``create_app`` once the kernel exists; lookup and domain-event hooks may take it.
        self.kernel: Kernel | None = None

    def _impls(self, hook: str) -> Iterator[tuple[str, Any]]:
        # pluggy's call order: last registered first.
        caller = getattr(self._pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            yield impl.plugin_name, impl

    def _call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        for plugin_name, impl in self._impls(hook):
            yield plugin_name, _invoke(impl, kwargs)

    def _registered(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """(plugin, item) for every item every plugin returned; sync registration hooks only."""
        items = []
        for plugin_name, result in self._call_each(hook, **kwargs):
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # no "never awaited" warning on top of the error
                raise StartupError(f"plugin {plugin_name!r}: {hook} must not be async")
            items.extend((plugin_name, item) for item in result or [])
        return items

    async def _notify(self, hook: str, *, refusable: bool = False, **kwargs: Any) -> None:
        """Await every implementation; log (never raise) a failing one — except an ``HTTPError``
        raised on purpose in a ``refusable`` hook, which propagates."""
        kwargs.setdefault("kernel", self.kernel)
        for plugin_name, impl in self._impls(hook):
            try:
                result = _invoke(impl, kwargs)
                if inspect.isawaitable(result):
                    await result
            except HTTPError:
                if refusable:
                    raise
                log.exception("plugin %r failed in %s", plugin_name, hook)
            except Exception:
                log.exception("plugin %r failed in %s", plugin_name, hook)

    # -- registration -----------------------------------------------------------------------

    def register_models(self, settings: Settings) -> list[tuple[str, Models]]:
        return self._registered("commonly_register_models", settings=settings)

    def register_blueprints(self, settings: Settings) -> list[tuple[str, Blueprint]]:
        return self._registered("commonly_register_blueprints", settings=settings)

    def register_socket_handlers(self, realtime: Realtime) -> list[tuple[str, SocketHandler]]:
        return self._registered("commonly_register_socket_handlers", realtime=realtime)

    def register_jobs(self, settings: Settings) -> list[tuple[str, Job]]:
        return self._registered("commonly_register_jobs", settings=settings)

    def register_commands(self, cli: click.Group) -> None:
        for plugin_name, _ in self._call_each("commonly_register_commands", cli=cli):
            log.debug("plugin %r registered its commands", plugin_name)

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self, kernel: Kernel) -> None:
        """Unlike domain events, a failing startup hook stops the server."""
        for _, result in self._call_each("commonly_startup", kernel=kernel):
            if inspect.isawaitable(result):
                await result

    async def shutdown(self, kernel: Kernel) -> None:
        await self._notify("commonly_shutdown", kernel=kernel)

    # -- lookup and contribution ------------------------------------------------------------

    async def actor_from_token(self, token: str, settings: Settings) -> Actor | None:
        """The first non-None actor; ``Unauthorized``/``Forbidden`` from a plugin propagate."""
        for _, result in self._call_each("commonly_actor_from_token", token=token, settings=settings):
            actor = await result if inspect.isawaitable(result) else result
            if actor is not None:
                return actor
        return None

    async def pod_context(self, pod: Any, actor: Actor, query: dict[str, Any]) -> list[ContextSection]:
        """Every plugin's sections, highest priority first; a failing plugin is logged, left out."""
        sections: list[ContextSection] = []
        for plugin_name, impl in self._impls("commonly_pod_context"):
            try:
                result = _invoke(impl, {"pod": pod, "actor": actor, "query": query, "kernel": self.kernel})
                if inspect.isawaitable(result):
                    result = await result
            except HTTPError:
                raise
            except Exception:
                log.exception("plugin %r failed in commonly_pod_context", plugin_name)
                continue
            for section in result or []:
                section.source = section.source or plugin_name
                sections.append(section)
        return sorted(sections, key=lambda section: (-section.priority, section.name))

    async def context_search(self, pod: Any, actor: Actor, query: str, limit: int, types: list[str],
                             include_skills: bool) -> ContextSearch | None:
        """The first plugin's non-None answer; a failing plugin is logged and skipped."""
        arguments = {"pod": pod, "actor": actor, "query": query, "limit": limit, "types": types,
                     "include_skills": include_skills, "kernel": self.kernel}
        for plugin_name, impl in self._impls("commonly_context_search"):
            try:
                result = _invoke(impl, arguments)
                if inspect.isawaitable(result):
                    result = await result
            except HTTPError:
                raise
            except Exception:
                log.exception("plugin %r failed in commonly_context_search", plugin_name)
                continue
            if result is not None:
                return result
        return None

    # -- domain events ----------------------------------------------------------------------

    async def user_created(self, user: Any) -> None:
        await self._notify("commonly_user_created", user=user)

    async def user_deleted(self, user_id: str) -> None:
        await self._notify("commonly_user_deleted", user_id=user_id)

    async def message_created(self, message: Any, pod: Any) -> None:
        await self._notify("commonly_message_created", message=message, pod=pod)

    async def post_created(self, post: Any) -> None:
        await self._notify("commonly_post_created", post=post)

    async def comment_created(self, comment: Any, post: Any, mentions: list[str]) -> None:
        await self._notify("commonly_comment_created", comment=comment, post=post, mentions=mentions)

    async def asset_saved(self, asset: Any) -> None:
        await self._notify("commonly_asset_saved", asset=asset)

    async def asset_deleted(self, asset: Any) -> None:
        await self._notify("commonly_asset_deleted", asset=asset)

    async def pod_member_changed(self, pod: Any, user_id: str, change: str) -> None:
        await self._notify("commonly_pod_member_changed", pod=pod, user_id=user_id, change=change)

    async def pod_deleted(self, pod_id: str) -> None:
        await self._notify("commonly_pod_deleted", pod_id=pod_id)

    async def socket_connected(self, realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
        """An ``HTTPError`` raised by a plugin refuses the connection (e.g. the wrong token kind)."""
        await self._notify(
            "commonly_socket_connected", refusable=True, realtime=realtime, sid=sid, actor=actor, namespace=namespace
        )

    async def socket_disconnected(self, realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
        await self._notify(
            "commonly_socket_disconnected", realtime=realtime, sid=sid, actor=actor, namespace=namespace
        )
