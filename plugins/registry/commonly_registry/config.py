"""The registry's settings, read once per app from the kernel's ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

from commonly_kernel import Settings

_configs: WeakKeyDictionary[Settings, RegistryConfig] = WeakKeyDictionary()


@dataclass(frozen=True)
class RegistryConfig:
    agent_catalog: Path | None
    skills_catalog: Path | None
    claim_timeout: float
    max_attempts: int
    retention_days: float
    requeue_every: float
    overflow_retry_limit: int
    webhook_attempts: int
    webhook_backoff: float
    allow_private_urls: bool
    development: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryConfig:
        agents = settings.get("COMMONLY_AGENT_CATALOG")
        skills = settings.get("COMMONLY_SKILLS_CATALOG")
        return cls(
            agent_catalog=Path(agents) if agents else None,
            skills_catalog=Path(skills) if skills else None,
            claim_timeout=settings.get_float("COMMONLY_EVENT_CLAIM_TIMEOUT_SECONDS", 600.0),
            max_attempts=settings.get_int("COMMONLY_EVENT_MAX_ATTEMPTS", 3),
            retention_days=settings.get_float("COMMONLY_EVENT_RETENTION_DAYS", 7.0),
            requeue_every=settings.get_float("COMMONLY_EVENT_REQUEUE_SECONDS", 60.0),
            overflow_retry_limit=settings.get_int("AGENT_CONTEXT_OVERFLOW_RETRY_LIMIT", 1),
            webhook_attempts=settings.get_int("COMMONLY_WEBHOOK_ATTEMPTS", 4),
            webhook_backoff=settings.get_float("COMMONLY_WEBHOOK_BACKOFF_SECONDS", 1.0),
            allow_private_urls=settings.allow_private_urls,
            development=not settings.is_production,
        )


def config_for(settings: Settings) -> RegistryConfig:
    config = _configs.get(settings)
    if config is None:
        config = _configs[settings] = RegistryConfig.from_settings(settings)
    return config
