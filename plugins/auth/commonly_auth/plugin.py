"""The auth plugin's hooks: its table of contents."""

from __future__ import annotations

from quart import Blueprint

from commonly_kernel import Actor, Kernel, Models, Settings, hookimpl

from . import routes, service
from .cache import USER_CHANGED

name = "auth"
requires: tuple[str, ...] = ()


@hookimpl
def commonly_register_models() -> list[Models]:
    return [Models("auth", ["commonly_auth.models"])]


@hookimpl
def commonly_register_blueprints(settings: Settings) -> list[Blueprint]:
    service.config_for(settings)  # a bad setting (REGISTRATION_INVITE_ONLY=maybe) stops startup
    return [routes.blueprint]


@hookimpl
async def commonly_actor_from_token(token: str, settings: Settings) -> Actor | None:
    """User JWTs; other token kinds (``cm_...``) are left to the plugins that issue them."""
    return await service.actor_for_token(token, settings)


@hookimpl
def commonly_startup(kernel: Kernel) -> None:
    kernel.broadcast.subscribe(USER_CHANGED, service.state_for(kernel.settings).users.evict)
