"""``commonly_register_jobs`` and the scheduler: periodic runs, and the database lease that lets
only one process run a job at a time."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from commonly_kernel import Job, hookimpl
from commonly_kernel.models import JobLease
from commonly_kernel.scheduler import Scheduler
from commonly_kernel.testing import serve, wait_for


class Ticker:
    name = "ticker"

    def __init__(self) -> None:
        self.runs: list[str] = []

    @hookimpl
    def commonly_register_jobs(self, settings):
        return [Job("ticker.tick", settings.get_float("TICKER_EVERY", 3600), self.tick)]

    async def tick(self, kernel):
        self.runs.append(kernel.settings.env)


async def test_job_runs_every_interval(make_app):
    ticker = Ticker()
    app = make_app(plugins=[ticker], TICKER_EVERY="0.05")
    async with serve(app):
        await wait_for(lambda: len(ticker.runs) >= 3)
        lease = await JobLease.get(name="ticker.tick")
        assert lease.owner == app.kernel.scheduler.owner
        assert lease.last_error is None
    assert ticker.runs[0] == "development"
    stopped_at = len(ticker.runs)
    await asyncio.sleep(0.15)
    assert len(ticker.runs) == stopped_at  # shutdown stopped the loop


async def test_job_not_run_when_scheduler_disabled(make_app):
    ticker = Ticker()
    async with serve(make_app(plugins=[ticker], TICKER_EVERY="0.02", COMMONLY_SCHEDULER="0")):
        await asyncio.sleep(0.15)
    assert ticker.runs == []


async def test_job_failure_recorded_and_loop_goes_on(make_app, caplog):
    attempts = []

    async def flaky(kernel):
        attempts.append(1)
        raise ValueError("feed unreachable")

    class Flaky:
        name = "flaky"

        @hookimpl
        def commonly_register_jobs(self):
            return [Job("flaky.fetch", 0.05, flaky)]

    with caplog.at_level(logging.ERROR, logger="commonly.scheduler"):
        async with serve(make_app(plugins=[Flaky()])):
            await wait_for(lambda: len(attempts) >= 2)
            lease = await JobLease.get(name="flaky.fetch")
    assert lease.last_error == "ValueError: feed unreachable"
    assert "job 'flaky.fetch' failed" in caplog.text


# -- the lease ----------------------------------------------------------------------------------


@pytest.fixture
async def started(make_app):
    """A started app (database ready) whose own scheduler stays idle."""
    app = make_app(plugins=[], COMMONLY_SCHEDULER="0")
    async with serve(app):
        yield app.kernel


def slow_job(runs: list[str], *, every: float = 60, timeout: float | None = None, pause: float = 0.2) -> Job:
    async def run(kernel):
        runs.append("start")
        await asyncio.sleep(pause)
        runs.append("end")

    return Job("reports.daily", every, run, timeout)


async def test_lease_two_schedulers_race_one_runs(started):
    runs: list[str] = []
    job = slow_job(runs)
    first, second = Scheduler([job]), Scheduler([job])
    results = await asyncio.gather(first.run_once(started, job), second.run_once(started, job))
    assert sorted(results) == [False, True]
    assert runs == ["start", "end"]
    winner = first if results[0] else second
    lease = await JobLease.get(name="reports.daily")
    assert lease.owner == winner.owner
    assert lease.last_finished_at >= lease.last_started_at


async def test_lease_many_racers_one_winner(started):
    runs: list[str] = []
    job = slow_job(runs)
    schedulers = [Scheduler([job]) for _ in range(5)]
    results = await asyncio.gather(*(scheduler.run_once(started, job) for scheduler in schedulers))
    assert results.count(True) == 1
    assert runs == ["start", "end"]


async def test_lease_held_until_it_expires(started):
    runs: list[str] = []
    job = slow_job(runs, every=60)
    first, second = Scheduler([job]), Scheduler([job])
    assert await first.run_once(started, job) is True
    # At most once per interval across processes, even after the run finished.
    assert await second.run_once(started, job) is False
    assert await first.run_once(started, job) is False
    assert runs == ["start", "end"]


async def test_lease_expired_can_be_retaken(started):
    runs: list[str] = []
    job = slow_job(runs)
    crashed, survivor = Scheduler([job]), Scheduler([job])
    assert await crashed.acquire(job) is True  # took the lease, then its process died
    assert await survivor.run_once(started, job) is False
    await JobLease.filter(name=job.name).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await survivor.run_once(started, job) is True
    assert runs == ["start", "end"]
    assert (await JobLease.get(name=job.name)).owner == survivor.owner


async def test_lease_expires_after_interval(started):
    runs: list[str] = []
    job = slow_job(runs, every=0.3, pause=0.01)  # well inside the 0.3 s the lease bounds a run to
    first, second = Scheduler([job]), Scheduler([job])
    assert await first.run_once(started, job) is True
    lease = await JobLease.get(name=job.name)
    assert lease.expires_at - lease.last_started_at == timedelta(seconds=0.3)
    # Sleep past the recorded expiry (not a fixed time: a loaded machine may be slow to get here).
    await asyncio.sleep((lease.expires_at - datetime.now(UTC)).total_seconds() + 0.05)
    assert await second.run_once(started, job) is True
    assert runs == ["start", "end", "start", "end"]
    assert (await JobLease.get(name=job.name)).owner == second.owner


async def test_job_timeout_bounds_a_run(started):
    runs: list[str] = []
    job = slow_job(runs, every=60, timeout=0.05)
    assert await Scheduler([job]).run_once(started, job) is True
    assert runs == ["start"]
    assert (await JobLease.get(name=job.name)).last_error.startswith("TimeoutError")


async def test_scheduler_stop_as_a_run_finishes(started):
    runs: list[int] = []
    stopping: list[asyncio.Task[None]] = []

    async def run(kernel):
        runs.append(1)
        if not stopping:
            # stop() cancels the loop just as this run completes: Python 3.11's asyncio.wait_for
            # swallows such a cancellation, and shutdown used to wait for the loop forever.
            stopping.append(asyncio.ensure_future(scheduler.stop()))

    scheduler = Scheduler([Job("race.stop", 0.01, run)])
    scheduler.start(started)
    await wait_for(lambda: stopping)
    await asyncio.wait_for(stopping[0], timeout=2)
    ran = len(runs)
    await asyncio.sleep(0.1)
    assert len(runs) == ran
