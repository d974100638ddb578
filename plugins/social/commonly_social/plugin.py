"""The social plugin's hooks: its table of contents."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from commonly_kernel import Kernel, Models, hookimpl

from . import cache, cleanup, routes

name = "social"
requires: tuple[str, ...] = ("auth",)


@hookimpl
def commonly_register_models() -> list[Models]:
    return [Models("social", ["commonly_social.models"])]


@hookimpl
def commonly_register_blueprints() -> list[Blueprint]:
    return [routes.blueprint]


@hookimpl
def commonly_startup(kernel: Kernel) -> None:
    cache.install(kernel)


@hookimpl
async def commonly_user_deleted(user_id: str) -> None:
    """Rows keyed by a user without a foreign key (activities, read state) go with the account."""
    await cleanup.forget_user(user_id)
    await cache.changed_from_hook()


@hookimpl
async def commonly_pod_deleted(pod_id: str) -> None:
    """A deleted pod's posts and activities go with it."""
    await cleanup.forget_pod(pod_id)
    await cache.changed_from_hook()


@hookimpl
async def commonly_pod_member_changed(pod: Any, user_id: str, change: str) -> None:
    """Who sees a pod's posts changed: every cached page may be stale."""
    await cache.changed_from_hook()
