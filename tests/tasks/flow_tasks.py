"""Tasks for worker and end-to-end tests (``tests.tasks.flow_tasks``).

Each one exercises one worker behaviour: values, children's values,
progress and logs, failures, long runs (for kill, cancel and shutdown tests),
and results that cannot travel.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from taskiq import TaskiqDepends

from backend.worker import FlowContext, broker

DEPENDS = TaskiqDepends()


@broker.task(task_name="t_echo")
async def t_echo(data: Any, ctx: FlowContext = DEPENDS) -> Any:
    return data


@broker.task(task_name="t_context")
async def t_context(data: Any, ctx: FlowContext = DEPENDS) -> dict[str, Any]:
    return {
        "jobId": ctx.job_id,
        "flowId": ctx.flow_id,
        "attempt": ctx.attempt,
        "queue": ctx.queue,
        "childrenValues": dict(ctx.children_values),
        "ignoredFailures": dict(ctx.ignored_failures),
        "data": data,
    }


@broker.task(task_name="t_report")
async def t_report(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> str:
    for value in data["progress"]:
        await ctx.update_progress(value)
    for line in data["logs"]:
        await ctx.log(line)
    return "reported"


class ExpectedFailure(ValueError):
    pass


def _raise_inner(message: str) -> None:
    raise ExpectedFailure(message)


@broker.task(task_name="t_fail")
async def t_fail(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> None:
    _raise_inner(data["message"])


@broker.task(task_name="t_sleep")
async def t_sleep(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> Any:
    """Sleep; records the pid that ran it, so kill tests can tell workers apart."""
    await ctx.log(f"pid {os.getpid()}")
    await asyncio.sleep(float(data["seconds"]))
    return {"pid": os.getpid(), "value": data.get("value")}


@broker.task(task_name="t_unserialisable")
async def t_unserialisable(data: Any, ctx: FlowContext = DEPENDS) -> Any:
    return {"when": object()}


@broker.task(task_name="t_huge")
async def t_huge(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> str:
    return "x" * int(data["size"])
