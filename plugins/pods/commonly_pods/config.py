"""The pods plugin's settings, read once per app from the kernel's ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from commonly_kernel import Settings

_configs: WeakKeyDictionary[Settings, PodsConfig] = WeakKeyDictionary()


@dataclass(frozen=True)
class PodsConfig:
    llm_base_url: str | None
    llm_api_key: str | None
    llm_model: str
    llm_timeout: float
    idempotency_hours: float
    asset_max_chars: int
    cache_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> PodsConfig:
        base_url = settings.get("COMMONLY_LLM_BASE_URL")
        return cls(
            llm_base_url=base_url.rstrip("/") if base_url else None,
            llm_api_key=settings.get("COMMONLY_LLM_API_KEY"),
            llm_model=settings.get("COMMONLY_LLM_MODEL") or "gpt-4o-mini",
            llm_timeout=settings.get_float("COMMONLY_LLM_TIMEOUT", 30.0),
            idempotency_hours=settings.get_float("COMMONLY_IDEMPOTENCY_HOURS", 24.0),
            asset_max_chars=settings.get_int("COMMONLY_ASSET_MAX_CHARS", 200_000),
            cache_seconds=settings.get_float("COMMONLY_PODS_CACHE_SECONDS", 10.0),
        )


def config_for(settings: Settings) -> PodsConfig:
    """The plugin's settings for an app (parsed once per settings object)."""
    config = _configs.get(settings)
    if config is None:
        config = _configs[settings] = PodsConfig.from_settings(settings)
    return config
