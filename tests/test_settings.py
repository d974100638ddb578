"""Settings the kernel reads itself, and the ones that stop ``create_app``."""

from __future__ import annotations

import stat

import pytest

from commonly_kernel import Settings, StartupError, create_app


@pytest.fixture
def database_url(tmp_path):
    # Nothing here starts a server: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'commonly.sqlite3'}"


def test_production_requires_jwt_secret(make_settings):
    with pytest.raises(StartupError, match="JWT_SECRET is required when COMMONLY_ENV=production"):
        create_app(make_settings(COMMONLY_ENV="production", JWT_SECRET=""), plugins=[])


def test_jwt_secret_too_short(make_settings):
    with pytest.raises(StartupError, match="JWT_SECRET must be at least 32 bytes long"):
        create_app(make_settings(JWT_SECRET="s" * 31), plugins=[])


def test_jwt_secret_length_counted_in_bytes(make_settings):
    # 16 characters of two bytes each: 32 bytes.
    assert create_app(make_settings(JWT_SECRET="é" * 16), plugins=[]).kernel.settings.jwt_secret == "é" * 16


def test_production_with_secret_starts(make_settings):
    app = create_app(make_settings(COMMONLY_ENV="production", JWT_SECRET="p" * 32), plugins=[])
    assert app.kernel.settings.is_production


def test_development_secret_generated_once_and_private(make_settings, tmp_path):
    first = make_settings(JWT_SECRET="").jwt_secret
    path = tmp_path / "data" / "jwt_secret"
    assert len(first.encode()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert make_settings(JWT_SECRET="").jwt_secret == first


def test_unknown_environment(make_settings):
    with pytest.raises(StartupError, match="COMMONLY_ENV='staging'"):
        create_app(make_settings(COMMONLY_ENV="staging"), plugins=[])


def test_from_env_reads_environ_with_overrides():
    settings = Settings.from_env({"COMMONLY_PLUGINS": "auth, pods", "REDIS_URL": ""}, FRONTEND_URL="https://a,https://b/")
    assert settings.plugin_allow_list == ("auth", "pods")
    assert settings.redis_url is None
    assert settings.frontend_urls == ("https://a", "https://b/")
    assert settings.frontend_url == "https://a"
    assert settings.replace(COMMONLY_PLUGINS="auth").plugin_allow_list == ("auth",)
    assert settings.plugin_allow_list == ("auth", "pods")


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u@db:5432/commonly", "postgres://u@db:5432/commonly"),
    ("postgresql+asyncpg://u@db/commonly", "postgres://u@db/commonly"),
    ("postgres://u@db/commonly", "postgres://u@db/commonly"),
])
def test_database_url_aliases(url, expected):
    assert Settings({"DATABASE_URL": url}).database_url == expected


def test_database_url_default_sqlite_in_data_dir():
    assert Settings({"COMMONLY_DATA_DIR": "/srv/commonly"}).database_url == "sqlite:///srv/commonly/commonly.sqlite3"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("Off", False), ("", True)])
def test_get_bool(value, expected):
    assert Settings({"COMMONLY_RATE_LIMITS": value}).rate_limits_enabled is expected


def test_bad_values_are_startup_errors():
    with pytest.raises(StartupError, match="COMMONLY_SCHEDULER='maybe' is not a boolean"):
        Settings({"COMMONLY_SCHEDULER": "maybe"}).scheduler_enabled  # noqa: B018
    with pytest.raises(StartupError, match="COMMONLY_MAX_BODY_BYTES='1MB' is not a number"):
        Settings({"COMMONLY_MAX_BODY_BYTES": "1MB"}).max_body_bytes  # noqa: B018
