"""The ceilings for ``bench/kernel_http.py``: a bare Quart app served exactly like ``commonly serve``.

Routes:

- ``GET /json``   -> ``{"hello": "world"}``: Quart + uvicorn and nothing else (the main ceiling).
- ``GET /raw``    -> the same row read with one constant SQL string through the Tortoise
  connection (``execute_query_dict``): Quart + the database driver, no query building.
- ``GET /select`` -> the same row through the ORM (``BenchItem.get_or_none(id=...)``): Quart +
  one ORM read, no kernel, no plugins. Together these show what a single read costs on its own.

Run it as ``python bench/bare_app.py --port P``; the database is ``BARE_DATABASE_URL``
(default: in-memory SQLite). It is served by ``uvicorn.run`` with the same arguments as
``commonly_kernel.cli.serve`` (1 worker, ``loop``/``http`` "auto" = uvloop + httptools when
installed, no access log, lifespan on), so the only difference is the application.
"""

from __future__ import annotations

import argparse
import os
import uuid

from quart import Quart
from tortoise import Tortoise, connections, fields
from tortoise.models import Model

ROW_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


class BenchItem(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    role = fields.CharField(max_length=10, default="user")
    banned = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "bench"
        table = "bench_item"


app = Quart("bare")


@app.before_serving
async def open_db() -> None:
    url = os.environ.get("BARE_DATABASE_URL") or "sqlite://:memory:"
    # The kernel's own workaround for Tortoise 1.x under Quart (see commonly_kernel/db.py).
    await Tortoise.init(db_url=url, modules={"bench": [__name__]}, use_tz=True, timezone="UTC",
                        _enable_global_fallback=True)
    await Tortoise.generate_schemas(safe=True)
    if not await BenchItem.exists(id=ROW_ID):
        await BenchItem.create(id=ROW_ID, name="bench")


@app.after_serving
async def close_db() -> None:
    await Tortoise.close_connections()


@app.get("/json")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/raw")
async def raw() -> dict[str, object]:
    conn = connections.get("default")
    mark = "?" if conn.capabilities.dialect == "sqlite" else "$1"
    rows = await conn.execute_query_dict(
        f'SELECT "id", "name", "role", "banned" FROM "bench_item" WHERE "id"={mark} LIMIT 1', [str(ROW_ID)]
    )
    row = rows[0]
    return {"id": str(row["id"]), "name": row["name"], "role": row["role"], "banned": bool(row["banned"])}


@app.get("/select")
async def select() -> dict[str, object]:
    item = await BenchItem.get_or_none(id=ROW_ID)
    assert item is not None
    return {"id": str(item.id), "name": item.name, "role": item.role, "banned": item.banned}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    # The same arguments as ``commonly serve`` (commonly_kernel/cli.py), minus the factory.
    uvicorn.run(app, host=args.host, port=args.port, workers=1, access_log=False,
                log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
