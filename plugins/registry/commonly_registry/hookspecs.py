"""The registry's own extension point: plugins that ship agents list them here."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("commonly")


@hookspec
def commonly_register_agents(settings: Any) -> list[dict[str, Any]] | None:
    """Registry entries this plugin ships: ``[{name, displayName, description, version, manifest
    {capabilities, requiredScopes, context {required, optional}}, categories, iconUrl, verified}]``.
    They are listed as ``registry: official``. Called once when the app starts (synchronous)."""
