"""Flowdesk side of bench_flows: a no-op flow task."""

from __future__ import annotations

from typing import Any

from taskiq import TaskiqDepends

from backend.worker import FlowContext, broker


@broker.task(task_name="noop")
async def noop(data: Any, ctx: FlowContext = TaskiqDepends()) -> None:  # noqa: B008
    return None
