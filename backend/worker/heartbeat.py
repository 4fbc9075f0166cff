"""Worker registry: who is alive, on which queues, knowing which tasks.

Each worker keeps one field of the ``flowdesk:workers`` hash fresh (its JSON
record with ``heartbeatAt``); the backend reads the hash to list live workers,
to fail jobs whose task no live worker knows, and to declare the active jobs
of a silent worker stalled (``backend/dispatch/registry.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace

from redis.asyncio import Redis

from backend.clock import now_ms
from backend.worker.protocol import WORKERS_KEY

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerInfo:
    """One worker's registration; times are epoch milliseconds."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    tasks: tuple[str, ...]
    started_at: int
    heartbeat_at: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "host": self.host,
                "pid": self.pid,
                "queues": list(self.queues),
                "tasks": list(self.tasks),
                "startedAt": self.started_at,
                "heartbeatAt": self.heartbeat_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> WorkerInfo:
        obj = json.loads(raw)
        return cls(
            id=str(obj["id"]),
            host=str(obj["host"]),
            pid=int(obj["pid"]),
            queues=tuple(str(q) for q in obj["queues"]),
            tasks=tuple(str(t) for t in obj["tasks"]),
            started_at=int(obj["startedAt"]),
            heartbeat_at=int(obj["heartbeatAt"]),
        )


class Registration:
    """Keeps this worker's field of the registry hash fresh until stopped."""

    def __init__(self, redis: Redis, info: WorkerInfo, interval: float) -> None:
        self._redis = redis
        self.info = info
        self._interval = interval

    async def beat(self) -> None:
        self.info = replace(self.info, heartbeat_at=now_ms())
        await self._redis.hset(WORKERS_KEY, self.info.id, self.info.to_json())

    async def run(self) -> None:
        """Beat every ``interval`` seconds; a failed beat is retried next time."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.beat()
            except Exception:
                logger.warning("heartbeat of worker %s failed", self.info.id, exc_info=True)

    async def remove(self) -> None:
        await self._redis.hdel(WORKERS_KEY, self.info.id)
