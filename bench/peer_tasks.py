"""Flowdesk side of bench_vs_bullmq: the same two tasks as the BullMQ harness.

``leaf`` returns 1 and ``sum`` adds its children's values, so each side does
the same work per job and the root's value checks that every child arrived.
"""

from __future__ import annotations

from typing import Any

from taskiq import TaskiqDepends

from backend.worker import FlowContext, broker


@broker.task(task_name="leaf")
async def leaf(data: Any, ctx: FlowContext = TaskiqDepends()) -> int:  # noqa: B008
    return 1


@broker.task(task_name="sum")
async def sum_children(data: Any, ctx: FlowContext = TaskiqDepends()) -> int:  # noqa: B008
    return sum(int(value) for value in ctx.children_values.values())
