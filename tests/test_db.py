"""Database helpers plugins use beside the ORM: ``lock_until_commit`` for whole-table rules."""

from __future__ import annotations

import asyncio
import sys

import pytest
from tortoise.transactions import in_transaction

from commonly_kernel import lock_until_commit, transaction
from commonly_kernel.models import JobLease
from commonly_kernel.testing import serve


async def take_next_seat(pause: float) -> str:
    """A check-then-write: count the seats taken, think a moment, take the next one."""
    async with in_transaction() as transaction:
        await lock_until_commit(transaction, "tests.seats")
        taken = await JobLease.filter(name__startswith="seat-").count()
        await asyncio.sleep(pause)  # without the lock, the other transaction counts in this gap
        seat = f"seat-{taken}"
        await JobLease.create(name=seat)
    return seat


async def test_lock_until_commit_makes_racing_transactions_take_turns(make_app):
    async with serve(make_app()):
        seats = await asyncio.gather(*(take_next_seat(0.05) for _ in range(4)))
        stored = await JobLease.filter(name__startswith="seat-").values_list("name", flat=True)
    assert sorted(seats) == ["seat-0", "seat-1", "seat-2", "seat-3"]
    assert sorted(stored) == sorted(seats)


async def test_lock_is_released_when_the_transaction_fails(make_app):
    async with serve(make_app()):
        try:
            async with in_transaction() as transaction:
                await lock_until_commit(transaction, "tests.seats")
                raise RuntimeError("the writer gave up")
        except RuntimeError:
            pass
        assert await asyncio.wait_for(take_next_seat(0), timeout=5) == "seat-0"


OPEN_DATABASE = """
import asyncio, sys
from commonly_kernel import Settings
from commonly_kernel.app import create_app
from commonly_kernel.db import close_database, open_database

async def main():
    settings = Settings.from_env(environ={}, DATABASE_URL=sys.argv[1], JWT_SECRET="x" * 32,
                                 COMMONLY_PLUGINS="auth,pods,social,registry")
    kernel = create_app(settings).kernel
    await open_database(settings, kernel.models)
    await close_database()

asyncio.run(main())
"""


async def test_worker_processes_starting_together_create_the_tables_once(database_url, tmp_path):
    """``commonly serve --workers N`` on an empty database: every worker creates missing tables
    at startup; none may fail because another is creating the same ones."""
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", OPEN_DATABASE, database_url, cwd=tmp_path,
                                             stderr=asyncio.subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [(await worker.wait(), (await worker.stderr.read()).decode()[-2000:]) for worker in workers]
    assert [code for code, _ in outcomes] == [0] * 4, outcomes


async def test_transaction_sends_its_notes_after_the_commit(make_app):
    """A note is an eviction: sent before the commit, a reader could cache the old rows again."""
    app = make_app()
    async with serve(app):
        broadcast = app.kernel.broadcast
        seen: list[object] = []
        broadcast.subscribe("tests.leases", seen.append)
        async with transaction():
            await JobLease.create(name="seat-0")
            await broadcast.publish("tests.leases", "seat-0")
            assert seen == []
        assert seen == ["seat-0"]

        with pytest.raises(RuntimeError):
            async with transaction():
                await JobLease.create(name="seat-1")
                await broadcast.publish("tests.leases", "seat-1")
                raise RuntimeError("rolled back")
        assert seen == ["seat-0"]  # nothing changed, nothing to evict
        assert not await JobLease.exists(name="seat-1")

        # Work spawned inside is its own: its notes neither wait for the block nor die with it.
        spawned = asyncio.Event()

        async def after_the_response() -> None:
            await broadcast.publish("tests.leases", "spawned")
            spawned.set()

        with pytest.raises(RuntimeError):
            async with transaction():
                app.kernel.spawn(after_the_response())
                await asyncio.wait_for(spawned.wait(), timeout=30)
                assert seen == ["seat-0", "spawned"]
                raise RuntimeError("rolled back")
        assert seen == ["seat-0", "spawned"]
