"""Which workers are alive and which tasks each queue can run.

Workers announce themselves (queues, task names, heartbeat) in Redis; this
keeps a short-lived cached view so the dispatcher can ask, per job, "can a
live worker of this queue run this task?" without a Redis round trip each.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from backend.dispatch.transport import Transport
from backend.worker.heartbeat import WorkerInfo

_REFRESH_S = 1.0


class WorkerRegistry:
    def __init__(
        self, transport: Transport, stall_timeout: float, clock: Callable[[], int]
    ) -> None:
        self.transport = transport
        self.stall_timeout_ms = int(stall_timeout * 1000)
        self.clock = clock
        self.live: list[WorkerInfo] = []
        self._fetched_at = float("-inf")

    async def refresh(self, force: bool = False) -> list[WorkerInfo]:
        if force or time.monotonic() - self._fetched_at > _REFRESH_S:
            workers = await self.transport.workers()
            cutoff = self.clock() - self.stall_timeout_ms
            self.live = [w for w in workers if w.heartbeat_at >= cutoff]
            self._fetched_at = time.monotonic()
        return self.live

    def can_run(self, queue: str, task: str) -> bool:
        """False only when live workers serve ``queue`` and none knows ``task``."""
        serving = [worker for worker in self.live if queue in worker.queues]
        return not serving or any(task in worker.tasks for worker in serving)

    def live_ids(self) -> set[str]:
        return {worker.id for worker in self.live}
