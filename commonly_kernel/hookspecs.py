"""Every hook the kernel offers. Plugins implement them with ``@commonly_kernel.hookimpl``.

Three families:

* **Registration** — synchronous, called once while ``create_app`` builds the app; each returns a
  list. Names must be unique across plugins (duplicates stop startup with ``StartupError``).
* **Lifecycle** — ``commonly_startup`` / ``commonly_shutdown``, sync or async.
* **Lookup, contribution and domain events** — sync or async; the kernel's façade
  (``commonly_kernel.hooks.Hooks``) awaits every result. Domain events ("has happened") are
  notifications: an exception in one implementation is logged and does not stop the others, nor
  undo the write that fired it.

pluggy calls hooks with keyword arguments, and an implementation may accept any subset of a
spec's arguments, so arguments can be added to a spec without breaking plugins. Never rely on hook
order for correctness.

Reference with examples: ``docs/plugin_hooks.md`` (a test keeps it in sync with this file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from quart import Blueprint

    from .app import Kernel
    from .auth import Actor
    from .realtime import Realtime
    from .registration import ContextSearch, ContextSection, Job, Models, SocketHandler
    from .settings import Settings

hookspec = pluggy.HookspecMarker("commonly")

# ---------------------------------------------------------------------------------------------
# Registration (sync, once per app)
# ---------------------------------------------------------------------------------------------


@hookspec
def commonly_add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add a plugin's own hook specs (its extension points) with ``pm.add_hookspecs(module)``.

    Called right after every plugin is registered and before unknown hook implementations are
    checked, so other plugins may implement the new hooks.
    """


@hookspec
def commonly_register_models(settings: Settings) -> list[Models]:
    """Return the plugin's Tortoise model modules as ``[Models(label, [module, ...])]``.

    Use the plugin's name as the label; relations to another plugin's models are written
    ``"auth.User"``. A label claimed by two plugins stops startup.
    """


@hookspec
def commonly_register_blueprints(settings: Settings) -> list[Blueprint]:
    """Return the plugin's Quart blueprints. Two blueprints with one name stop startup.

    Routes keep Commonly's paths (``/api/...``) and use ``validate_request``/``validate_response``;
    tag the blueprint with the plugin name for the OpenAPI document.
    """


@hookspec
def commonly_register_socket_handlers(realtime: Realtime) -> list[SocketHandler]:
    """Return socket.io event handlers. One event name in one namespace claimed twice stops startup.

    Connections are authenticated by the kernel before any handler runs (see
    ``commonly_actor_from_token``); ``realtime`` gives the server, rooms and the connected actor.
    """


@hookspec
def commonly_register_jobs(settings: Settings) -> list[Job]:
    """Return periodic jobs. Read intervals from ``settings`` so tests can shrink them.

    Each job runs in one process at a time, guarded by a lease row in the database.
    """


@hookspec
def commonly_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``commonly`` command line with ``cli.add_command(...)``.

    A command name that is already taken stops the CLI with an error.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


@hookspec
def commonly_startup(kernel: Kernel) -> None:
    """Called once the database is ready, before the first request is served (may be async).

    Start background tasks here and stop them in ``commonly_shutdown``.
    """


@hookspec
def commonly_shutdown(kernel: Kernel) -> None:
    """Called when the server stops, before the database closes (may be async)."""


# ---------------------------------------------------------------------------------------------
# Lookup and contribution
# ---------------------------------------------------------------------------------------------


@hookspec
def commonly_actor_from_token(token: str, settings: Settings) -> Actor | None:
    """Return the ``Actor`` a bearer token stands for, or None if the token is not yours.

    Called for HTTP requests and socket.io connections alike. Recognise your tokens cheaply (by
    prefix or format) and return None for the rest; the first non-None result wins. Raise
    ``Unauthorized``/``Forbidden`` for a token that is yours but no longer valid (revoked, banned).
    """


@hookspec
def commonly_pod_context(pod: Any, actor: Actor, query: dict[str, Any], kernel: Kernel) -> list[ContextSection] | None:
    """Contribute sections to ``GET /api/pods/:id/context`` (may be async).

    ``pod`` is the pods plugin's pod, ``query`` the request's parameters (``task``, ``limit``,
    ...). Return a list of ``ContextSection`` (or None). Sections are merged by priority; an
    implementation that fails is logged and left out.
    """


@hookspec
def commonly_context_search(pod: Any, actor: Actor, query: str, limit: int, types: list[str],
                            include_skills: bool, kernel: Kernel) -> ContextSearch | None:
    """Answer ``GET /api/pods/:id/context/search`` better than keywords (may be async).

    Called after the pods plugin has checked that ``actor`` may read ``pod``. Return a
    ``ContextSearch(mode, results)`` — ``results`` in the route's shape ``{assetId, title, type,
    tags, score, snippet, createdAt}``, best first, at most ``limit``, only assets ``actor`` may
    see — or None to let the next plugin (and finally the keyword search) answer. The first
    non-None answer wins; a failing implementation is logged and skipped.
    """


# ---------------------------------------------------------------------------------------------
# Domain events ("has happened"): notifications after the write is committed. Like the lookup
# hooks above, each may also take ``kernel`` (the app's ``Kernel``): they may run outside any
# request (a socket.io event, a job), where ``commonly_kernel.kernel()`` has no app to answer.
# ---------------------------------------------------------------------------------------------


@hookspec
def commonly_user_created(user: Any, kernel: Kernel) -> None:
    """A user account was created (``user`` is the auth plugin's ``User``)."""


@hookspec
def commonly_user_deleted(user_id: str, kernel: Kernel) -> None:
    """A user account was deleted; remove or anonymise what you keep for ``user_id``."""


@hookspec
def commonly_message_created(message: Any, pod: Any, kernel: Kernel) -> None:
    """A chat message was stored in ``pod`` (once per message, however it arrived)."""


@hookspec
def commonly_post_created(post: Any, kernel: Kernel) -> None:
    """A social post was created."""


@hookspec
def commonly_comment_created(comment: Any, post: Any, mentions: list[str], kernel: Kernel) -> None:
    """A comment was added to ``post``; ``mentions`` are the ``@usernames`` it names."""


@hookspec
def commonly_asset_saved(asset: Any, kernel: Kernel) -> None:
    """A pod memory asset was created or changed."""


@hookspec
def commonly_asset_deleted(asset: Any, kernel: Kernel) -> None:
    """A pod memory asset was deleted or archived."""


@hookspec
def commonly_pod_member_changed(pod: Any, user_id: str, change: str, kernel: Kernel) -> None:
    """Someone joined, left or was removed from ``pod``; ``change`` is ``joined|left|removed``."""


@hookspec
def commonly_pod_deleted(pod_id: str, kernel: Kernel) -> None:
    """A pod and its own rows were deleted; drop whatever you keep for ``pod_id``."""


@hookspec
def commonly_socket_connected(realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
    """An authenticated socket.io client is connecting (join rooms, replay queued events).

    Raise an ``HTTPError`` (e.g. ``Forbidden(code="runtime_token_required")``) to refuse the
    connection: the client gets ``{error, message}`` as its connect error. Other exceptions are
    logged and the connection stands.
    """


@hookspec
def commonly_socket_disconnected(realtime: Realtime, sid: str, actor: Actor, namespace: str) -> None:
    """A socket.io client disconnected."""
