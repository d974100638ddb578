"""Tortoise ORM, configured from the plugins' model modules (one app label per plugin).

Tortoise 1.x keeps its state in a context variable: whatever ``Tortoise.init`` sets inside
Quart's lifespan task is invisible to request handlers unless the global fallback is on, and
``tortoise.contrib.quart.register_tortoise`` does not turn it on. So the kernel initialises
Tortoise itself with ``_enable_global_fallback=True``.

Schemas: on startup missing tables are created (``CREATE TABLE IF NOT EXISTS``); nothing is ever
dropped or altered. Changes to existing tables go through aerich migrations (docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from .broadcast import held_until_done
from .errors import StartupError
from .registration import Models
from .settings import Settings

KERNEL_MODELS = Models("kernel", ["commonly_kernel.models"])
SQLITE_PRAGMAS = {"busy_timeout": "5000"}


def collect_models(registered: Iterable[tuple[str, Models]]) -> list[Models]:
    """The kernel's models plus every plugin's; a label claimed twice stops startup."""
    owners: dict[str, str] = {KERNEL_MODELS.label: "the kernel"}
    model_sets = [KERNEL_MODELS]
    for plugin_name, model_set in registered:
        if model_set.label in owners:
            raise StartupError(
                f"model label {model_set.label!r} is claimed by both {owners[model_set.label]!r} "
                f"and {plugin_name!r}"
            )
        owners[model_set.label] = plugin_name
        model_sets.append(model_set)
    return model_sets


def tortoise_config(database_url: str, model_sets: Iterable[Models]) -> dict[str, Any]:
    """A Tortoise config dict (also what aerich reads, see ``commonly_kernel.migrations``)."""
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            model_set.label: {"models": list(model_set.modules), "default_connection": "default"}
            for model_set in model_sets
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str) -> str | dict[str, Any]:
    if not database_url.startswith("sqlite://"):
        return database_url
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {"engine": "tortoise.backends.sqlite", "credentials": {"file_path": path, **SQLITE_PRAGMAS}}


async def open_database(settings: Settings, model_sets: Iterable[Models]) -> None:
    await Tortoise.init(
        config=tortoise_config(settings.database_url, model_sets), _enable_global_fallback=True
    )
    await _create_missing_tables()


async def _create_missing_tables() -> None:
    """``CREATE TABLE IF NOT EXISTS`` for every model. On PostgreSQL the worker processes of one
    deployment take turns: two creating the same table at once fail on a catalog unique index
    (``IF NOT EXISTS`` does not cover a concurrent creator). SQLite creates under its write lock,
    and its ``executescript`` commits any open transaction, so it runs as it is."""
    if connections.get("default").capabilities.dialect != "postgres":
        await Tortoise.generate_schemas(safe=True)
        return
    async with in_transaction() as transaction:  # DDL is transactional on PostgreSQL
        await lock_until_commit(transaction, "commonly_kernel.schema")
        await Tortoise.generate_schemas(safe=True)  # on this transaction: it is the context's connection


async def close_database() -> None:
    await Tortoise.close_connections()


async def database_answers() -> bool:
    """Whether the database answers a trivial query (for ``/ready``)."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:
        return False
    return True


_MARK = re.compile(r"\?")


async def fetch_all(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of one SQL statement as dicts, ``?`` marking parameters on every database.

    For hot paths where the ORM's per-row work is most of a request's time (a constant SQL
    string costs about a quarter of the same read through a queryset). Keep ``?`` out of string
    literals; values always go in ``params``. Rows come as the driver gives them: on SQLite,
    timestamps are ISO text and JSON is text; ``Model._init_from_db(**row)`` turns a full row
    into a model instance.
    """
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        numbers = iter(range(1, len(params) + 1))
        sql = _MARK.sub(lambda _: f"${next(numbers)}", sql)
    return await connection.execute_query_dict(sql, list(params))


async def lock_until_commit(transaction: BaseDBAsyncClient, name: str) -> None:
    """Hold the database-wide lock ``name`` until ``transaction`` ends, so a check-then-write
    (``is this the first account?``) runs in one process at a time across every server process.

    A unique constraint is the better tool where one fits; this is for rules over a whole table.
    Under PostgreSQL's READ COMMITTED two transactions can both see the table as it was before
    either wrote; a transaction-scoped advisory lock makes the second wait, and its next statement
    then sees the first one's commit. SQLite needs nothing: Tortoise runs one transaction at a time
    on its single connection, and SQLite admits one writer at a time.

    Usage::

        async with in_transaction() as transaction:
            await lock_until_commit(transaction, "auth.first-admin")
            ...
    """
    if transaction.capabilities.dialect != "postgres":
        return
    # A stable 64-bit key (hash() differs per process): two names sharing one would only wait for
    # each other, and at 64 bits that does not happen.
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    await transaction.execute_query("SELECT pg_advisory_xact_lock($1)", [key])


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[BaseDBAsyncClient]:
    """Tortoise's ``in_transaction()``, with the kernel's broadcast notes published inside held
    until it commits (and dropped if it rolls back). Use it when the block calls code that
    announces its changes (another plugin's ``add_member``, say): announced before the commit, an
    eviction lets another process cache the rows as they were, for as long as its cache lasts.
    Hooks called inside still run inside; only the notes wait."""
    async with held_until_done(), in_transaction() as connection:
        yield connection
