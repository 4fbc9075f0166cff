"""Bounded shutdown (``backend.shutdown``): a lost cancel, reproduced on purpose,
does not make a stop wait forever; what cannot be stopped is named, not waited for."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time

import pytest

from backend.shutdown import (
    EXIT_SHUTDOWN_OVERRUN,
    ShutdownBudget,
    raise_if_cancelled,
    stop_tasks,
)


async def lose_one_cancel(loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    """A loop like the monitor's whose ``wait_for`` swallows the first cancel.

    On Python 3.11 ``wait_for`` returns the inner result when the cancel
    arrives after the inner future finished, in the same loop turn (what
    redis-py's command write hits by chance): set the result, then cancel.
    """
    ready = loop.create_future()
    inner: asyncio.Future[int] = loop.create_future()
    rounds = 0

    async def body() -> None:
        nonlocal rounds
        ready.set_result(None)
        await asyncio.wait_for(inner, 5)  # the cancel may be lost here
        while True:
            rounds += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(body())
    await ready
    inner.set_result(1)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done() or sys.version_info >= (3, 12)
    assert task.cancelling() == 1
    return task


async def test_a_lost_cancel_is_repeated_until_the_task_ends() -> None:
    task = await lose_one_cancel(asyncio.get_running_loop())
    started = time.monotonic()
    assert await stop_tasks([task], 2.0, what="test")
    assert task.done()
    assert time.monotonic() - started < 1.0


async def test_a_loop_notices_a_cancel_that_a_library_swallowed() -> None:
    loop = asyncio.get_running_loop()
    inner: asyncio.Future[int] = loop.create_future()

    async def body() -> None:
        while True:
            await asyncio.wait_for(inner, 5)
            raise_if_cancelled()
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    inner.set_result(1)
    task.cancel()
    await asyncio.wait([task], timeout=1.0)
    assert task.cancelled()


async def test_a_task_that_never_stops_is_logged_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn-loop")
    await asyncio.sleep(0)
    budget = ShutdownBudget(0.3)
    budget.start()
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="backend.shutdown"):
        assert not await budget.stop_tasks([task], what="test")
    assert time.monotonic() - started < 1.5
    assert budget.overrun
    record = next(r for r in caplog.records if r.getMessage() == "tasks did not stop")
    assert "stubborn-loop" in record.tasks  # type: ignore[attr-defined]
    assert "in stubborn" in record.tasks  # type: ignore[attr-defined]
    release.set()
    task.cancel()
    await asyncio.wait([task], timeout=1.0)


async def test_a_step_that_outlasts_the_budget_is_abandoned() -> None:
    budget = ShutdownBudget(0.2)
    budget.start()
    started = time.monotonic()
    assert not await budget.step(asyncio.sleep(30), what="slow step")
    assert time.monotonic() - started < 1.5
    assert budget.overrun
    assert await ShutdownBudget(1.0).step(asyncio.sleep(0), what="quick step")


def test_the_watchdog_dumps_the_tasks_and_exits_non_zero() -> None:
    script = textwrap.dedent(
        """
        import asyncio, logging, sys
        from backend.shutdown import Watchdog
        logging.basicConfig(stream=sys.stderr, format="%(message)s %(tasks)s")

        async def stuck_forever():
            await asyncio.Event().wait()

        async def main():
            Watchdog(0.3, asyncio.get_running_loop()).arm()
            await asyncio.create_task(stuck_forever(), name="never-ends")

        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == EXIT_SHUTDOWN_OVERRUN, proc.stderr
    assert "shutdown exceeded its bound" in proc.stderr
    assert "never-ends" in proc.stderr
    assert "in stuck_forever" in proc.stderr
