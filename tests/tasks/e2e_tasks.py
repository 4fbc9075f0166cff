"""Tasks for end-to-end flow tests (``tests.tasks.e2e_tasks``).

Every run appends a side record ``{job, attempt, start, end, pid}`` to the
Redis list ``e2e:runs`` (the task's own account, independent of the
backend's database), so tests can check ordering and double execution.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import redis.asyncio as aredis
from taskiq import TaskiqDepends

from backend.worker import FlowContext, broker

DEPENDS = TaskiqDepends()
RUNS_KEY = "e2e:runs"


async def _record(ctx: FlowContext, start: float) -> None:
    client = aredis.Redis.from_url(os.environ["FLOWDESK_REDIS_URL"])
    try:
        record = {
            "job": ctx.job_id,
            "attempt": ctx.attempt,
            "start": start,
            "end": time.time(),
            "pid": os.getpid(),
        }
        await client.rpush(RUNS_KEY, json.dumps(record))
    finally:
        await client.aclose()


@broker.task(task_name="value")
async def value(data: dict[str, Any] | None, ctx: FlowContext = DEPENDS) -> Any:
    """Returns data.value plus the sum of its children's numeric values."""
    start = time.time()
    data = data or {}
    await asyncio.sleep(float(data.get("sleep", 0)))
    children = sum(v for v in ctx.children_values.values() if isinstance(v, int | float))
    await _record(ctx, start)
    return data.get("value", 0) + children


@broker.task(task_name="collect")
async def collect(data: Any, ctx: FlowContext = DEPENDS) -> dict[str, Any]:
    """Returns what it was given: children's values and ignored failures."""
    start = time.time()
    await _record(ctx, start)
    return {
        "children": dict(ctx.children_values),
        "ignored": {k: (v or {}).get("type") for k, v in ctx.ignored_failures.items()},
    }


@broker.task(task_name="flaky")
async def flaky(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> str:
    """Fails attempts 1..data.fails, then returns "ok"."""
    start = time.time()
    await _record(ctx, start)
    if ctx.attempt <= int(data.get("fails", 0)):
        raise RuntimeError(f"flaky failure on attempt {ctx.attempt}")
    return "ok"


@broker.task(task_name="boom")
async def boom(data: Any, ctx: FlowContext = DEPENDS) -> None:
    start = time.time()
    await _record(ctx, start)
    raise ValueError("boom")


@broker.task(task_name="slow")
async def slow(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> Any:
    start = time.time()
    await ctx.update_progress(10)
    await asyncio.sleep(float(data["seconds"]))
    await _record(ctx, start)
    return data.get("value", "slept")


STARTS_KEY = "e2e:starts"
CANCELLED_KEY = "e2e:cancelled"


@broker.task(task_name="spanned")
async def spanned(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> Any:
    """Records its start before it sleeps (``e2e:starts``), so a run cut short by a
    kill still shows when it began; then sleeps and records as the others do.
    A run asked to stop (cancelled) pushes its job id to ``e2e:cancelled``."""
    start = time.time()
    client = aredis.Redis.from_url(os.environ["FLOWDESK_REDIS_URL"])
    try:
        await client.rpush(STARTS_KEY, json.dumps({"job": ctx.job_id, "attempt": ctx.attempt,
                                                   "start": start}))  # fmt: skip
    finally:
        await client.aclose()
    try:
        await asyncio.sleep(float(data["seconds"]))
    except asyncio.CancelledError:  # asked to stop: leave a mark, then stop
        client = aredis.Redis.from_url(os.environ["FLOWDESK_REDIS_URL"])
        try:
            await client.rpush(CANCELLED_KEY, ctx.job_id)
        finally:
            await client.aclose()
        raise
    await _record(ctx, start)
    return data.get("value", 0)
