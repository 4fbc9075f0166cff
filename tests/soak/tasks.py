"""The soak's task module (``tests.soak.tasks``), run by real ``taskiq worker`` processes.

One task, ``soak``: it sleeps ``data.sleep`` seconds, fails attempts
``1..data.fails`` (so ``attempts = fails + 1`` lets it complete), or always
fails when ``data.boom`` is set, and returns ``data.value`` plus the sum of its
children's values. Every run that reaches its end appends one JSON line
``{job, attempt, start, end, ok, pid}`` to the file named by ``SOAK_RUNS``:
the task's own account, kept outside Redis (which the soak empties once) and
outside the backend's database, so the checks can compare the two.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from taskiq import TaskiqDepends

from backend.worker import FlowContext, broker

DEPENDS: FlowContext = TaskiqDepends()


def _record(ctx: FlowContext, start: float, ok: bool) -> None:
    line = json.dumps(
        {
            "job": ctx.job_id,
            "attempt": ctx.attempt,
            "start": start,
            "end": time.time(),
            "ok": ok,
            "pid": os.getpid(),
        }
    )
    # one short O_APPEND write per run: lines from several processes never interleave
    fd = os.open(os.environ["SOAK_RUNS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@broker.task(task_name="soak")
async def soak(data: dict[str, Any], ctx: FlowContext = DEPENDS) -> int:
    start = time.time()
    await asyncio.sleep(float(data.get("sleep", 0)))
    if data.get("boom") or ctx.attempt <= int(data.get("fails", 0)):
        _record(ctx, start, ok=False)
        raise RuntimeError(f"soak failure on attempt {ctx.attempt}")
    children = sum(v for v in ctx.children_values.values() if isinstance(v, int))
    _record(ctx, start, ok=True)
    return int(data.get("value", 0)) + children
