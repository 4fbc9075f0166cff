"""Helpers for window tests on a qasync loop: run a bounded scenario, wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import qasync

WAIT = 20.0


def run(loop: qasync.QEventLoop, coro: Coroutine[Any, Any, None], timeout: float = 60) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro

    loop.run_until_complete(bounded())


async def until(
    predicate: Callable[[], object], what: str = "condition", wait: float = WAIT
) -> None:
    try:
        async with asyncio.timeout(wait):
            # Polling: the conditions are Qt-side state with no event to await.
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
