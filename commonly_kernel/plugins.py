"""Building the plugin manager: entry points, allow-lists, declared dependencies, checks.

The manager is built inside ``create_app`` (and by the CLI), never at import time, so every app
gets exactly the plugins it asked for and tests never leak plugins into each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import StartupError
from .settings import Settings

PROJECT = "commonly"
ENTRY_POINT_GROUP = "commonly.plugins"

hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin as ``GET /api/plugins`` and ``commonly plugins`` show it."""

    name: str
    version: str
    requires: tuple[str, ...]
    hooks: tuple[str, ...]


def installed_plugins() -> dict[str, EntryPoint]:
    """Every plugin installed in this environment, by entry-point name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def build_plugin_manager(
    settings: Settings, plugins: Sequence[str | object] | None = None
) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """Register the chosen plugins and check them.

    ``plugins`` (tests, embedders) lists entry-point names and/or plugin objects (modules or
    instances with ``@hookimpl`` methods; named by their ``name`` attribute or ``__name__``).
    Without it, every installed plugin loads, narrowed by ``COMMONLY_PLUGINS``.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    versions: dict[str, str] = {}
    for name, plugin, version in _choose(settings, plugins):
        if pm.has_plugin(name):
            raise StartupError(f"two plugins are named {name!r}")
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as error:
            raise StartupError(f"plugin {name!r} is invalid: {error}") from error
        versions[name] = version
    for impl in pm.hook.commonly_add_hookspecs.get_hookimpls():
        try:
            impl.function(*[{"pm": pm}[arg] for arg in impl.argnames])  # opt-in argument, like every hook
        except pluggy.PluginValidationError as error:  # an implementation that does not fit the new spec
            raise StartupError(f"plugin {pm.get_name(error.plugin)!r} is invalid: {error}") from error
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as error:
        # The error carries the plugin object, not its name.
        raise StartupError(
            f"plugin {pm.get_name(error.plugin)!r} implements an unknown hook: {error}"
        ) from error
    infos = [_describe(pm, name, versions[name]) for name in versions]
    _check_requirements(infos)
    return pm, infos


def _choose(
    settings: Settings, plugins: Sequence[str | object] | None
) -> list[tuple[str, object, str]]:
    available = installed_plugins()
    if plugins is None:
        allow = settings.plugin_allow_list
        wanted: Sequence[str | object] = list(available) if allow is None else allow
    else:
        wanted = plugins
    chosen = []
    for item in wanted:
        if isinstance(item, str):
            if item not in available:
                known = ", ".join(sorted(available)) or "none"
                raise StartupError(f"plugin {item!r} is not installed (installed: {known})")
            chosen.append((item, _load(available[item]), _dist_version(available[item])))
        else:
            chosen.append((_object_name(item), item, str(getattr(item, "__version__", "0"))))
    return chosen


def _load(entry_point: EntryPoint) -> object:
    try:
        return entry_point.load()
    except Exception as error:  # an import error inside a plugin must say which plugin
        raise StartupError(f"plugin {entry_point.name!r} failed to import: {error}") from error


def _dist_version(entry_point: EntryPoint) -> str:
    return entry_point.dist.version if entry_point.dist is not None else "0"


def _object_name(plugin: object) -> str:
    name = getattr(plugin, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__name__


def _describe(pm: pluggy.PluginManager, name: str, version: str) -> PluginInfo:
    plugin: Any = pm.get_plugin(name)
    hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
    return PluginInfo(name, version, tuple(getattr(plugin, "requires", ())), tuple(hooks))


def _check_requirements(infos: list[PluginInfo]) -> None:
    loaded = {info.name for info in infos}
    for info in infos:
        missing = [need for need in info.requires if need not in loaded]
        if missing:
            raise StartupError(
                f"plugin {info.name!r} requires {', '.join(map(repr, missing))}, which is not "
                "loaded; add it to COMMONLY_PLUGINS (or to the plugins= list)"
            )
