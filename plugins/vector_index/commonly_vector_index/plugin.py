"""The vector index's hooks: its table of contents. Nothing heavy is imported here (numpy, torch and
the model load on first use)."""

from __future__ import annotations

from typing import Any

import click
from quart import Blueprint

from commonly_kernel import Actor, ContextSearch, ContextSection, Kernel, Models, Settings, hookimpl

name = "vector_index"
requires: tuple[str, ...] = ("auth", "pods")


@hookimpl
def commonly_add_hookspecs(pm: Any) -> None:
    from . import hookspecs

    pm.add_hookspecs(hookspecs)


@hookimpl
def commonly_register_models() -> list[Models]:
    return [Models("vector_index", ["commonly_vector_index.models"])]


@hookimpl
def commonly_register_blueprints(settings: Settings) -> list[Blueprint]:
    from .config import config_for
    from .routes import blueprint

    config_for(settings)  # a malformed setting stops startup
    return [blueprint]


@hookimpl
def commonly_register_commands(cli: click.Group) -> None:
    from .cli import index

    cli.add_command(index)


@hookimpl
async def commonly_startup(kernel: Kernel) -> None:
    from .state import state_of

    await state_of(kernel).start()


@hookimpl
async def commonly_shutdown(kernel: Kernel) -> None:
    from .state import state_of

    await state_of(kernel).stop()


@hookimpl
async def commonly_asset_saved(asset: Any) -> None:
    from .indexer import enqueue
    from .models import JOB_DROP, JOB_INDEX

    await enqueue(JOB_INDEX if asset.status == "active" else JOB_DROP, str(asset.pod_id), [asset.id])


@hookimpl
async def commonly_asset_deleted(asset: Any) -> None:
    from .indexer import enqueue
    from .models import JOB_DROP

    await enqueue(JOB_DROP, str(asset.pod_id), [asset.id])


@hookimpl
async def commonly_pod_deleted(pod_id: str) -> None:
    from .indexer import enqueue
    from .models import JOB_DROP_POD

    await enqueue(JOB_DROP_POD, pod_id)


@hookimpl
async def commonly_pod_context(pod: Any, actor: Actor, query: dict[str, Any]) -> list[ContextSection] | None:
    from .context import pod_context

    return await pod_context(pod, actor, query)


@hookimpl
async def commonly_context_search(pod: Any, actor: Actor, query: str, limit: int, types: list[str],
                                  include_skills: bool) -> ContextSearch | None:
    from .context import context_search

    return await context_search(pod, actor, query, limit, types, include_skills)
