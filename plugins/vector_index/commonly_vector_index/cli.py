"""``commonly index rebuild [--pod ID] [--reset]`` and ``commonly index stats``.

The commands build the app from the environment (the same database as the server), with this
process's scheduler and queue worker off, and index directly — not through the queue — showing a
progress bar. A server running meanwhile picks the new vectors up through the pods' index versions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import click

from commonly_kernel import Settings, StartupError, create_app

BATCH = 64


@click.group("index", help="The vector index: rebuild it, show its numbers.")
def index() -> None:
    pass


@contextlib.asynccontextmanager
async def running_app(settings: Settings | None = None, plugins: list[Any] | None = None) -> AsyncIterator[Any]:
    """The app's kernel with its database open (startup and shutdown hooks run). ``plugins``: as
    ``create_app`` takes them (default: every installed plugin, narrowed by ``COMMONLY_PLUGINS``)."""
    settings = (settings or Settings.from_env()).replace(COMMONLY_SCHEDULER="0", COMMONLY_VECTOR_WORKER="0")
    try:
        app = create_app(settings, plugins=plugins)
    except StartupError as error:
        raise click.ClickException(str(error)) from error
    async with app.quart.test_app():
        yield app.kernel


@index.command("rebuild", help="Re-embed every active asset (of one pod, or of all pods).")
@click.option("--pod", "pod_id", default=None, help="Only this pod (its id).")
@click.option("--reset", is_flag=True, help="Drop the pods' vectors first.")
def rebuild_command(pod_id: str | None, reset: bool) -> None:
    asyncio.run(rebuild(pod_id, reset))


async def rebuild(pod_id: str | None, reset: bool, settings: Settings | None = None,
                  plugins: list[Any] | None = None) -> dict[str, int]:
    from commonly_pods import Pod, get_pod

    from . import indexer, service
    from .models import JOB_INDEX, QUEUED, VectorJob
    from .state import state_of

    async with running_app(settings, plugins) as kernel:
        state = state_of(kernel)
        if not state.available():
            raise click.ClickException("the embedding model cannot be loaded (see COMMONLY_EMBEDDING_MODEL)")
        if pod_id is not None:
            pod = await get_pod(pod_id)
            if pod is None:
                raise click.ClickException(f"no pod {pod_id!r}")
            pods = [pod]
        else:
            pods = await Pod.all().order_by("created_at")
        started = datetime.now(UTC)
        work: list[tuple[str, list[int]]] = []
        for pod in pods:
            if reset:
                await indexer.drop_pod(str(pod.id))
            work.append((str(pod.id), await service.active_asset_ids(str(pod.id))))
        total = sum(len(ids) for _, ids in work)
        indexed = errors = 0
        runner, model = state.runner(), state.embedder().name
        with click.progressbar(length=total, label=f"Indexing {len(pods)} pod(s)", show_pos=True) as bar:
            for pod_key, ids in work:
                for start in range(0, len(ids), BATCH):
                    batch = ids[start:start + BATCH]
                    try:
                        prepared = await indexer.prepare(batch, size=state.config.chunk_words,
                                                         overlap=state.config.chunk_overlap)
                        vectors = await runner.embed(prepared.texts)
                        await indexer.write(prepared, vectors, model, extra_pods=[pod_key])
                        indexed += len(batch)
                        # Queued jobs for these assets from before this run are done now.
                        await VectorJob.filter(asset_id__in=batch, kind=JOB_INDEX, status=QUEUED,
                                               created_at__lt=started).delete()
                    except Exception as error:  # report and go on with the next batch
                        errors += len(batch)
                        click.echo(f"\n{pod_key}: {len(batch)} assets failed: {error}", err=True)
                    bar.update(len(batch))
        click.echo(f"Indexed {indexed} of {total} assets in {len(pods)} pod(s)"
                   f"{' after a reset' if reset else ''}; {errors} failed.")
        return {"pods": len(pods), "indexed": indexed, "errors": errors, "total": total}


@index.command("stats", help="Chunks, assets, queue and model, per pod.")
def stats_command() -> None:
    asyncio.run(stats())


async def stats(settings: Settings | None = None, plugins: list[Any] | None = None) -> None:
    from commonly_pods import Pod

    from . import service
    from .models import VectorChunk, VectorJob
    from .state import state_of

    async with running_app(settings, plugins) as kernel:
        state = state_of(kernel)
        embedder = state.embedder()
        click.echo(f"model: {embedder.name} ({embedder.dimensions} dimensions, "
                   f"{'available' if state.available() else 'NOT available'})")
        pod_ids = sorted(set(await VectorChunk.all().distinct().values_list("pod_id", flat=True))
                         | set(await VectorJob.all().distinct().values_list("pod_id", flat=True)))
        names = {str(pod.id): pod.name for pod in await Pod.filter(id__in=pod_ids)} if pod_ids else {}
        click.echo(f"{'pod':36}  {'name':24} {'chunks':>8} {'assets':>7} {'pending':>8} {'failed':>7}")
        totals = [0, 0, 0, 0]
        for pod_id in pod_ids:
            numbers = await service.stats(state, pod_id)
            row = [numbers["chunks"], numbers["assets"], numbers["pending"], numbers["failed"]]
            totals = [a + b for a, b in zip(totals, row, strict=True)]
            click.echo(f"{pod_id:36}  {names.get(pod_id, '(deleted)')[:24]:24} "
                       f"{row[0]:>8} {row[1]:>7} {row[2]:>8} {row[3]:>7}")
        click.echo(f"{'total':36}  {'':24} {totals[0]:>8} {totals[1]:>7} {totals[2]:>8} {totals[3]:>7}")
