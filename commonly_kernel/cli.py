"""The ``commonly`` command: serve the API, list plugins and routes, plus plugins' commands."""

from __future__ import annotations

import logging
import sys

import click
import uvicorn

from .app import CommonlyApp, create_app
from .errors import StartupError
from .hooks import Hooks
from .plugins import build_plugin_manager
from .settings import Settings


def app_from_env() -> CommonlyApp:
    """The app as uvicorn workers build it (``--factory``): settings from the environment."""
    configure_logging()
    return create_app()


def configure_logging() -> None:
    level = (Settings.from_env().get("COMMONLY_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class CommandGroup(click.Group):
    """A group that refuses a second command of the same name (a plugin clashing with another)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        if name in self.commands:
            raise StartupError(f"the command {name!r} is registered twice")
        super().add_command(cmd, name)


@click.group(cls=CommandGroup, help="Commonly: pods, posts and agents on one small Quart kernel.")
def cli() -> None:
    pass


@cli.command(help="Serve the API (and socket.io) with uvicorn.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes; use PostgreSQL (DATABASE_URL) and REDIS_URL with more than one.")
def serve(host: str, port: int, workers: int) -> None:
    try:
        create_app()  # fail here, with a readable message, rather than inside every worker
    except StartupError as error:
        raise click.ClickException(str(error)) from error
    settings = Settings.from_env()
    uvicorn.run("commonly_kernel.cli:app_from_env", factory=True, host=host, port=port,
                workers=workers, access_log=False, log_level="info", lifespan="on",
                # uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 by default.
                proxy_headers=settings.trust_proxy,
                forwarded_allow_ips=settings.get("COMMONLY_FORWARDED_ALLOW_IPS", "127.0.0.1"))


@cli.command(help="List the plugins that would load, with versions and hooks.")
def plugins() -> None:
    _, infos = _plugin_manager()
    for info in infos:
        needs = f" (requires {', '.join(info.requires)})" if info.requires else ""
        click.echo(f"{info.name} {info.version}{needs}")
        click.echo(f"    hooks: {', '.join(info.hooks) or '-'}")


@cli.command(help="List every HTTP route and socket.io event.")
def routes() -> None:
    try:
        app = create_app()
    except StartupError as error:
        raise click.ClickException(str(error)) from error
    rules = sorted(app.quart.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
    for rule in rules:
        methods = ",".join(sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"}))
        click.echo(f"{methods:<20} {rule.rule:<60} {rule.endpoint}")
    for (namespace, event), plugin_name in sorted(app.kernel.realtime.events.items()):
        click.echo(f"{'SOCKET':<20} {namespace + ' ' + event:<60} {plugin_name}")


def _plugin_manager():  # type: ignore[no-untyped-def]
    try:
        return build_plugin_manager(Settings.from_env())
    except StartupError as error:
        raise click.ClickException(str(error)) from error


def main() -> None:
    configure_logging()
    try:
        pm, _ = build_plugin_manager(Settings.from_env())
        Hooks(pm).register_commands(cli)
    except StartupError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    cli()
