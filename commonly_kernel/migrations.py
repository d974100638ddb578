"""The Tortoise config of the installed plugin set, for aerich (schema migrations).

    aerich init -t commonly_kernel.migrations.TORTOISE_ORM
    aerich --app auth migrate --name add_profile_banner
    aerich --app auth upgrade

Reads the same environment as the server (``DATABASE_URL``, ``COMMONLY_PLUGINS``); see
docs/deploy.md. Importing this module builds a plugin manager, so only aerich should import it.
"""

from __future__ import annotations

from typing import Any

from .db import collect_models, tortoise_config
from .hooks import Hooks
from .plugins import build_plugin_manager
from .settings import Settings


def build_config(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    pm, _ = build_plugin_manager(settings)
    config = tortoise_config(settings.database_url, collect_models(Hooks(pm).register_models(settings)))
    config["apps"]["aerich"] = {"models": ["aerich.models"], "default_connection": "default"}
    return config


TORTOISE_ORM = build_config()
