"""The kernel's own routes: health, readiness, and the list of loaded plugins."""

from __future__ import annotations

import time

from quart import Blueprint, current_app
from quart_schema import tag, validate_response

from .auth import require_actor
from .db import database_answers
from .schemas import WireModel

kernel_blueprint = Blueprint("kernel", __name__)


class Health(WireModel):
    status: str
    version: str
    uptime: float


class Readiness(WireModel):
    status: str
    database: str


class PluginOut(WireModel):
    name: str
    version: str
    requires: list[str]
    hooks: list[str]


class PluginList(WireModel):
    plugins: list[PluginOut]


@kernel_blueprint.get("/api/health")  # the original clients' alias (registered second)
@kernel_blueprint.get("/health")
@tag(["kernel"])
@validate_response(Health)
async def health() -> Health:
    """Liveness: cheap, touches nothing."""
    kernel = current_app.extensions["commonly"]
    return Health(status="ok", version=kernel.version, uptime=round(time.monotonic() - kernel.started_at, 3))


@kernel_blueprint.get("/ready")
@tag(["kernel"])
@validate_response(Readiness, 200)
@validate_response(Readiness, 503)
async def ready() -> tuple[Readiness, int]:
    """Readiness: 200 when the database answers, 503 otherwise."""
    if await database_answers():
        return Readiness(status="ok", database="ok"), 200
    return Readiness(status="unavailable", database="unreachable"), 503


@kernel_blueprint.get("/api/plugins")
@tag(["kernel"])
@require_actor()
@validate_response(PluginList)
async def list_plugins() -> PluginList:
    """The loaded plugins, their versions and the hooks each implements."""
    kernel = current_app.extensions["commonly"]
    return PluginList(plugins=[
        PluginOut(name=info.name, version=info.version, requires=list(info.requires), hooks=list(info.hooks))
        for info in kernel.plugins
    ])
