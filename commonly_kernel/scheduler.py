"""Plugins' periodic jobs, each guarded by a lease row so that of N server processes only one
runs a given job at a time (and at most once per interval across all of them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from .errors import StartupError
from .models import JobLease
from .registration import Job

if TYPE_CHECKING:
    from .app import Kernel

log = logging.getLogger("commonly.scheduler")


def collect_jobs(registered: Iterable[tuple[str, Job]]) -> list[Job]:
    owners: dict[str, str] = {}
    jobs = []
    for plugin_name, job in registered:
        if job.name in owners:
            raise StartupError(f"job {job.name!r} is claimed by both {owners[job.name]!r} and {plugin_name!r}")
        if job.every <= 0:
            raise StartupError(f"job {job.name!r} of plugin {plugin_name!r} needs a positive interval")
        owners[job.name] = plugin_name
        jobs.append(job)
    return jobs


class Scheduler:
    """Runs each job every ``job.every`` seconds in a task of its own while the server runs."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.owner = uuid.uuid4().hex
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, kernel: Kernel) -> None:
        self._tasks = [asyncio.create_task(self._loop(kernel, job), name=f"job:{job.name}") for job in self.jobs]

    async def stop(self) -> None:
        pending = set(self._tasks)
        while pending:
            # Cancel until every loop has ended: on Python 3.11, asyncio.wait_for swallows a
            # cancellation that arrives just as the job finishes, and the loop would go on.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        self._tasks = []

    async def _loop(self, kernel: Kernel, job: Job) -> None:
        while True:
            await asyncio.sleep(job.every)
            try:
                await self.run_once(kernel, job)
            except Exception:  # the loop must outlive a database hiccup
                log.exception("scheduler: job %r could not run", job.name)

    async def run_once(self, kernel: Kernel, job: Job) -> bool:
        """Run ``job`` now if this process wins its lease; True when it ran."""
        if not await self.acquire(job):
            return False
        error = None
        try:
            await asyncio.wait_for(job.run(kernel), timeout=job.lease_seconds)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job %r failed", job.name)
        await JobLease.filter(name=job.name, owner=self.owner).update(
            last_finished_at=_now(), last_error=error
        )
        return True

    async def acquire(self, job: Job) -> bool:
        """Take the job's lease if it is free or expired: one conditional UPDATE, so two
        processes racing for it cannot both win."""
        await _ensure_lease_row(job.name)
        now = _now()
        taken = await JobLease.filter(
            Q(name=job.name) & (Q(expires_at__isnull=True) | Q(expires_at__lte=now))
        ).update(owner=self.owner, expires_at=now + timedelta(seconds=job.lease_seconds),
                 last_started_at=now)
        return taken == 1


async def _ensure_lease_row(name: str) -> None:
    if await JobLease.exists(name=name):
        return
    with contextlib.suppress(IntegrityError):  # another process created it first
        await JobLease.create(name=name)


def _now() -> datetime:
    return datetime.now(UTC)
