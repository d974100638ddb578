"""Settings read from the environment, with overrides for tests and embedders.

The kernel reads a few typed values itself (below). Plugins read their own settings through
``settings.get*("NAME")`` so that one object carries everything a process was started with, and a
test can build an app with ``Settings.from_env(SMTP_HOST="127.0.0.1", ...)`` without touching
``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from .errors import StartupError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MIN_SECRET_BYTES = 32


class Settings:
    """Every setting of one app: the process environment plus explicit overrides."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``environ`` (default ``os.environ``) with ``overrides`` on top."""
        values = dict(os.environ if environ is None else environ)
        values.update({key: str(value) for key, value in overrides.items() if value is not None})
        return cls(values)

    def replace(self, **overrides: object) -> Settings:
        """A copy with some values changed."""
        return Settings.from_env(self._values, **overrides)

    # -- generic accessors, for plugins -------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        return default if value is None or value == "" else value

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None or value.strip() == "":
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise StartupError(f"{name}={value!r} is not a boolean (use 1/true/yes/on or 0/false/no/off)")

    def get_int(self, name: str, default: int) -> int:
        return int(self._number(name, default, int))

    def get_float(self, name: str, default: float) -> float:
        return float(self._number(name, default, float))

    def get_list(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._values.get(name)
        if value is None:
            return default
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def _number(self, name: str, default: float, kind: type) -> float:
        value = self._values.get(name)
        if value is None or value.strip() == "":
            return default
        try:
            return kind(value)
        except ValueError:
            raise StartupError(f"{name}={value!r} is not a number") from None

    # -- what the kernel itself reads ---------------------------------------------------------

    @property
    def env(self) -> str:
        env = (self.get("COMMONLY_ENV") or "development").lower()
        if env not in ("development", "production"):
            raise StartupError(f"COMMONLY_ENV={env!r}: use 'development' or 'production'")
        return env

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def data_dir(self) -> Path:
        return Path(self.get("COMMONLY_DATA_DIR") or "data")

    @property
    def database_url(self) -> str:
        url = self.get("DATABASE_URL")
        if url is None:
            return f"sqlite://{self.data_dir / 'commonly.sqlite3'}"
        # Tortoise names the PostgreSQL scheme "postgres"; accept what libpq and Heroku write.
        for alias in ("postgresql://", "postgresql+asyncpg://"):
            if url.startswith(alias):
                return "postgres://" + url[len(alias):]
        return url

    @property
    def redis_url(self) -> str | None:
        return self.get("REDIS_URL")

    @property
    def frontend_urls(self) -> tuple[str, ...]:
        return self.get_list("FRONTEND_URL", ("http://localhost:3000",))

    @property
    def frontend_url(self) -> str:
        """The first ``FRONTEND_URL``: where links in mails point."""
        return self.frontend_urls[0].rstrip("/")

    @property
    def plugin_allow_list(self) -> tuple[str, ...] | None:
        """``COMMONLY_PLUGINS`` as names, or None to load every installed plugin."""
        if self.get("COMMONLY_PLUGINS") is None:
            return None
        return self.get_list("COMMONLY_PLUGINS")

    @property
    def max_body_bytes(self) -> int:
        return self.get_int("COMMONLY_MAX_BODY_BYTES", 1024 * 1024)

    @property
    def allow_private_urls(self) -> bool:
        return self.get_bool("COMMONLY_ALLOW_PRIVATE_URLS", False)

    @property
    def trust_proxy(self) -> bool:
        """Whether ``X-Forwarded-For`` names the client (only behind a proxy you run)."""
        return self.get_bool("COMMONLY_TRUST_PROXY", False)

    @property
    def rate_limits_enabled(self) -> bool:
        return self.get_bool("COMMONLY_RATE_LIMITS", True)

    @property
    def scheduler_enabled(self) -> bool:
        return self.get_bool("COMMONLY_SCHEDULER", True)

    @property
    def redis_channel_prefix(self) -> str:
        """What this deployment's Redis pub/sub channels start with: deployments sharing one Redis
        server need different ones (channels ignore the URL's database number)."""
        return self.get("COMMONLY_REDIS_PREFIX", "commonly") or "commonly"

    @property
    def gc_freeze(self) -> bool:
        """Whether startup's objects are moved out of the garbage collector's reach (see app.py)."""
        return self.get_bool("COMMONLY_GC_FREEZE", True)

    @property
    def gzip_min_bytes(self) -> int:
        return self.get_int("COMMONLY_GZIP_MIN_BYTES", 1024)

    @cached_property
    def jwt_secret(self) -> str:
        """``JWT_SECRET``; in development a generated one kept in the data folder."""
        secret = self.get("JWT_SECRET")
        if secret is not None:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise StartupError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
            return secret
        if self.is_production:
            raise StartupError("JWT_SECRET is required when COMMONLY_ENV=production")
        return self._development_secret()

    def _development_secret(self) -> str:
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # Created 0600 so other local users cannot read the key that signs sessions.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        return secret
