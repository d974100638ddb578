"""The ``commonly`` command line and ``commonly_register_commands``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from commonly_kernel import StartupError, hookimpl
from commonly_kernel.cli import CommandGroup, cli, main


@pytest.fixture
def database_url(tmp_path):
    # Nothing here opens the database: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'commonly.sqlite3'}"


class Greeter:
    name = "greeter"

    @hookimpl
    def commonly_register_commands(self, cli):
        @cli.command(help="Greet someone.")
        @click.option("--name", default="world")
        def hello(name: str) -> None:
            click.echo(f"hello {name}")


def fresh_group() -> click.Group:
    @click.group(cls=CommandGroup)
    def group() -> None:
        pass

    return group


def test_register_commands_adds_a_subcommand(make_app):
    group = fresh_group()
    make_app(plugins=[Greeter()]).kernel.hooks.register_commands(group)
    result = CliRunner().invoke(group, ["hello", "--name", "ada"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello ada\n"
    assert "Greet someone." in CliRunner().invoke(group, ["--help"]).output


def test_register_commands_clash_refused(make_app):
    class Impostor:
        name = "impostor"

        @hookimpl
        def commonly_register_commands(self, cli):
            cli.add_command(click.Command("hello", callback=lambda: None))

    with pytest.raises(StartupError, match="the command 'hello' is registered twice"):
        make_app(plugins=[Greeter(), Impostor()]).kernel.hooks.register_commands(fresh_group())


def test_register_commands_cannot_replace_builtin(make_app):
    class Rogue:
        name = "rogue"

        @hookimpl
        def commonly_register_commands(self, cli):
            cli.add_command(click.Command("serve", callback=lambda: None))

    with pytest.raises(StartupError, match="'serve' is registered twice"):
        make_app(plugins=[Rogue()]).kernel.hooks.register_commands(cli)
    assert cli.commands["serve"].help.startswith("Serve the API")


@pytest.fixture
def env(make_settings, tmp_path) -> dict[str, str]:
    settings = make_settings()
    return {
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.jwt_secret,
        "COMMONLY_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def greeter_site(tmp_path) -> Iterator[Path]:
    """``greeter`` installed as an entry point in a directory for ``PYTHONPATH``."""
    site = tmp_path / "site"
    (site / "commonly_greeter-0.3.0.dist-info").mkdir(parents=True)
    (site / "commonly_greeter-0.3.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: commonly_greeter\nVersion: 0.3.0\n")
    (site / "commonly_greeter-0.3.0.dist-info" / "entry_points.txt").write_text(
        "[commonly.plugins]\ngreeter = kernel_test_greeter\n")
    (site / "kernel_test_greeter.py").write_text(textwrap.dedent("""
        import click
        from commonly_kernel import SocketHandler, hookimpl

        @hookimpl
        def commonly_register_commands(cli):
            @cli.command(help="Greet someone.")
            @click.argument("name")
            def hello(name):
                click.echo(f"hello {name}")

        async def greet(sid, data):
            return "hello"

        @hookimpl
        def commonly_register_socket_handlers():
            return [SocketHandler("greet", greet)]
    """))
    yield site
    sys.modules.pop("kernel_test_greeter", None)


def test_cli_plugin_command_end_to_end(env, greeter_site):
    commonly = Path(sys.executable).with_name("commonly")
    run_env = {**os.environ, **env, "COMMONLY_PLUGINS": "greeter", "PYTHONPATH": str(greeter_site)}
    result = subprocess.run([str(commonly), "hello", "grace"], env=run_env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello grace\n"


def test_cli_startup_error_exit_code(env, monkeypatch, capsys):
    for name, value in {**env, "COMMONLY_PLUGINS": "no-such-plugin"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["commonly", "plugins"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "Error: plugin 'no-such-plugin' is not installed" in capsys.readouterr().err


def test_cli_plugins_lists_names_versions_hooks(env, greeter_site, monkeypatch):
    monkeypatch.syspath_prepend(str(greeter_site))
    result = CliRunner().invoke(cli, ["plugins"], env={**env, "COMMONLY_PLUGINS": "greeter"})
    assert result.exit_code == 0, result.output
    assert result.output == (
        "greeter 0.3.0\n    hooks: commonly_register_commands, commonly_register_socket_handlers\n"
    )


def test_cli_plugins_unknown_name(env):
    result = CliRunner().invoke(cli, ["plugins"], env={**env, "COMMONLY_PLUGINS": "nope"})
    assert result.exit_code == 1
    assert "plugin 'nope' is not installed" in result.output


def test_cli_routes(env, greeter_site, monkeypatch):
    monkeypatch.syspath_prepend(str(greeter_site))
    result = CliRunner().invoke(cli, ["routes"], env={**env, "COMMONLY_PLUGINS": "greeter"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["GET", "/health", "kernel.health"] for line in lines)
    assert any(line.split()[:3] == ["GET", "/api/plugins", "kernel.list_plugins"] for line in lines)
    assert any(line.split()[:2] == ["GET", "/openapi.json"] for line in lines)
    assert lines[-1].split() == ["SOCKET", "/", "greet", "greeter"]


def test_cli_serve_refuses_bad_settings(env):
    result = CliRunner().invoke(cli, ["serve"], env={**env, "COMMONLY_ENV": "production", "JWT_SECRET": ""})
    assert result.exit_code == 1
    assert "JWT_SECRET is required when COMMONLY_ENV=production" in result.output
