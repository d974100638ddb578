"""Kernel broadcast: notes reach this process at once and other processes through Redis."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from commonly_kernel.broadcast import Broadcast, held_until_done
from commonly_kernel.testing import wait_for

REDIS_URL = os.environ.get("COMMONLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_broadcast_without_redis_delivers_here_before_publish_returns() -> None:
    broadcast = Broadcast(None)
    seen: list[object] = []
    broadcast.subscribe("users", seen.append)
    await broadcast.start()
    await broadcast.publish("users", "u1")
    await broadcast.publish("other", "ignored")
    assert seen == ["u1"]
    await broadcast.stop()


async def test_broadcast_failing_handler_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    broadcast = Broadcast(None)
    seen: list[object] = []
    broadcast.subscribe("users", lambda message: 1 / 0)
    broadcast.subscribe("users", seen.append)
    await broadcast.publish("users", {"id": 1})
    assert seen == [{"id": 1}]
    assert "broadcast handler for 'users' failed" in caplog.text


async def test_broadcast_through_redis_reaches_every_process_once() -> None:
    prefix = f"test-{uuid.uuid4().hex}"  # another run on the same Redis server hears none of this
    here, there = Broadcast(REDIS_URL, prefix), Broadcast(REDIS_URL, prefix)
    seen_here: list[object] = []
    seen_there: list[object] = []
    here.subscribe("users", seen_here.append)
    there.subscribe("users", seen_there.append)
    try:
        await here.start()
        await there.start()
    except (OSError, RedisConnectionError):
        if os.environ.get("COMMONLY_TEST_REDIS_URL"):
            raise
        pytest.skip("no Redis (set COMMONLY_TEST_REDIS_URL; CI does)")
    try:
        await here.publish("users", "u7")
        assert seen_here == ["u7"]  # at once, where the change was made
        await wait_for(lambda: seen_there == ["u7"])
        await there.publish("users", "u8")
        await wait_for(lambda: seen_here == ["u7", "u8"])
        assert seen_there == ["u7", "u8"]  # the publisher does not hear its own note twice
    finally:
        await here.stop()
        await there.stop()


async def test_notes_held_until_the_block_finishes_in_order() -> None:
    broadcast, seen = Broadcast(None), []
    broadcast.subscribe("pods", seen.append)
    async with held_until_done():
        await broadcast.publish("pods", "p1")
        async with held_until_done():  # joins the outer block
            await broadcast.publish("pods", "p2")
        assert seen == []
    assert seen == ["p1", "p2"]


async def test_notes_of_a_block_that_raises_are_dropped() -> None:
    broadcast, seen = Broadcast(None), []
    broadcast.subscribe("pods", seen.append)
    with pytest.raises(RuntimeError):
        async with held_until_done():
            await broadcast.publish("pods", "p1")
            raise RuntimeError("rolled back")
    await broadcast.publish("pods", "p2")
    assert seen == ["p2"]


async def test_a_task_started_inside_a_block_publishes_at_once_once_it_is_done() -> None:
    broadcast, seen = Broadcast(None), []
    broadcast.subscribe("pods", seen.append)
    release = asyncio.Event()

    async def later() -> None:
        await release.wait()
        await broadcast.publish("pods", "late")

    async with held_until_done():
        task = asyncio.create_task(later())  # copies the context, and with it the held block
    release.set()
    await task
    assert seen == ["late"]
