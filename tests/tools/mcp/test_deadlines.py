"""Deadlines on one shared timer behave like asyncio.timeout for each call."""

import asyncio
import time

import pytest

from toolgym.tools.mcp.deadlines import Deadlines


async def work(deadlines: Deadlines, limit: float, takes: float) -> str:
    with deadlines.within(limit):
        await asyncio.sleep(takes)
    return "done"


async def test_only_the_calls_past_their_deadline_time_out():
    deadlines = Deadlines()
    start = time.perf_counter()
    results = await asyncio.gather(
        *(work(deadlines, limit, takes) for limit, takes in [(0.05, 1), (0.5, 0.01), (0.1, 1), (1, 0.2)] * 50),
        return_exceptions=True,
    )
    kinds = [type(r).__name__ if isinstance(r, BaseException) else r for r in results]
    assert kinds == ["TimeoutError", "done", "TimeoutError", "done"] * 50
    assert time.perf_counter() - start < 0.5
    assert not deadlines._calls and not deadlines._expired


async def test_a_later_call_with_an_earlier_deadline_rearms_the_timer():
    deadlines = Deadlines()
    slow = asyncio.create_task(work(deadlines, 10, 0.3))
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        await work(deadlines, 0.05, 5)
    assert time.perf_counter() - start < 0.2
    assert await slow == "done"


async def test_outer_cancellation_and_outer_timeouts_are_not_swallowed():
    deadlines = Deadlines()
    task = asyncio.create_task(work(deadlines, 5, 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(TimeoutError):  # the outer timeout fires first and is reported as its own
        async with asyncio.timeout(0.05):
            await work(deadlines, 5, 5)
    assert await work(deadlines, 0.5, 0) == "done"
