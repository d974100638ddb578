"""``commonly_startup`` / ``commonly_shutdown``: sync and async implementations, run around a real
server's lifetime with the database open."""

from __future__ import annotations

import asyncio
import gc
import logging

import httpx
import pytest

from commonly_kernel import hookimpl
from commonly_kernel.models import JobLease
from commonly_kernel.testing import serve


class SyncLifecycle:
    name = "sync-lifecycle"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    @hookimpl
    def commonly_startup(self, kernel):
        self.events.append(f"sync startup {kernel.settings.env}")

    @hookimpl
    def commonly_shutdown(self, kernel):
        self.events.append("sync shutdown")


class AsyncLifecycle:
    """Uses the database in both hooks: it is open by startup and still open at shutdown."""

    name = "async-lifecycle"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    @hookimpl
    async def commonly_startup(self, kernel):
        await asyncio.sleep(0)
        await JobLease.create(name="written-at-startup")
        self.events.append("async startup")

    @hookimpl
    async def commonly_shutdown(self, kernel):
        self.events.append(f"async shutdown {await JobLease.filter(name='written-at-startup').count()}")


async def test_startup_and_shutdown_sync_and_async(make_app):
    events: list[str] = []
    app = make_app(plugins=[SyncLifecycle(events), AsyncLifecycle(events)])
    async with serve(app):
        assert sorted(events) == ["async startup", "sync startup development"]
        events.clear()
    assert sorted(events) == ["async shutdown 1", "sync shutdown"]


async def test_startup_sees_database_before_first_request(make_app):
    events: list[str] = []
    app = make_app(plugins=[AsyncLifecycle(events)])
    async with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/ready")).status_code == 200
        assert await JobLease.exists(name="written-at-startup")


async def test_startup_failure_stops_the_server(make_app):
    class Fails:
        name = "fails"

        @hookimpl
        async def commonly_startup(self):
            raise RuntimeError("cannot reach the model server")

    with pytest.raises(RuntimeError, match="the server stopped during startup"):
        async with serve(make_app(plugins=[Fails()])):
            pass


async def test_shutdown_failure_logged_others_still_run(make_app, caplog):
    events: list[str] = []

    class Fails:
        name = "fails"

        @hookimpl
        def commonly_shutdown(self):
            raise RuntimeError("flush failed")

    app = make_app(plugins=[SyncLifecycle(events), Fails(), AsyncLifecycle(events)])
    with caplog.at_level(logging.ERROR, logger="commonly.hooks"):
        async with serve(app):
            pass
    assert "sync shutdown" in events and "async shutdown 1" in events
    assert "plugin 'fails' failed in commonly_shutdown" in caplog.text


async def test_startup_objects_frozen_out_of_the_collector_until_shutdown(make_app):
    app = make_app(COMMONLY_GC_FREEZE="1")
    assert gc.get_freeze_count() == 0  # the suite's apps leave the collector alone (testing settings)
    async with serve(app):
        assert gc.get_freeze_count() > 10_000  # the app's modules, schemas and models
    assert gc.get_freeze_count() == 0


async def test_collector_left_alone_when_freezing_is_off(make_app):
    async with serve(make_app(COMMONLY_GC_FREEZE="0")):
        assert gc.get_freeze_count() == 0
