"""Example tasks the desktop's demo flows use: echo, sleep, sum, fail, http.

Run them with ``taskiq worker backend.worker:broker backend.examples.tasks``
(or ``backend serve --tasks backend.examples.tasks`` in-process). Each task
takes the job's ``data`` first and a ``FlowContext``; what it returns is the
job's result and reaches the parent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from taskiq import TaskiqDepends

from backend.worker import FlowContext, broker


@broker.task(task_name="echo")
async def echo(data: Any, ctx: FlowContext = TaskiqDepends()) -> Any:  # noqa: B008
    """Return the job's data unchanged."""
    return data


@broker.task(task_name="sleep")
async def sleep(data: dict[str, Any], ctx: FlowContext = TaskiqDepends()) -> Any:  # noqa: B008
    """Sleep ``data["seconds"]`` in ten steps, reporting progress; return ``data["value"]``."""
    seconds = float(data.get("seconds", 1.0))
    steps = 10
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        await ctx.update_progress((step + 1) * 100 // steps)
    return data.get("value")


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


@broker.task(task_name="sum")
async def sum_children(data: dict[str, Any] | None, ctx: FlowContext = TaskiqDepends()) -> float:  # noqa: B008
    """Sum the numbers among the children's values (nested lists too), plus ``data["add"]``."""
    total = sum(n for value in ctx.children_values.values() for n in _numbers(value))
    return total + sum(_numbers((data or {}).get("add", 0)))


class DemoFailure(RuntimeError):
    """Raised by the ``fail`` task on purpose."""


@broker.task(task_name="fail")
async def fail(data: dict[str, Any] | None, ctx: FlowContext = TaskiqDepends()) -> Any:  # noqa: B008
    """Fail with ``data["message"]``; with ``data["times"] = n`` only the first n attempts."""
    data = data or {}
    times = data.get("times")
    if times is not None and ctx.attempt > int(times):
        await ctx.log(f"attempt {ctx.attempt} succeeds after {times} failures")
        return data.get("value", ctx.attempt)
    raise DemoFailure(str(data.get("message", "failed on purpose")))


@broker.task(task_name="http")
async def http(data: dict[str, Any], ctx: FlowContext = TaskiqDepends()) -> dict[str, Any]:  # noqa: B008
    """Make an HTTP request (``method``, ``url``, ``json``, ``timeout``); return status and body.

    Meant for the ``webhooks`` queue. The body is parsed as JSON when the
    response says it is JSON, else returned as text.
    """
    timeout = aiohttp.ClientTimeout(total=float(data.get("timeout", 30)))
    method = str(data.get("method", "GET")).upper()
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, str(data["url"]), json=data.get("json")) as response,
    ):
        body: Any
        if response.content_type == "application/json":
            body = await response.json()
        else:
            body = await response.text()
        await ctx.log(f"{method} {data['url']} -> {response.status}")
        return {"status": response.status, "body": body}
