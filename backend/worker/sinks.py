"""Where a worker's lifecycle events go.

A worker on Redis appends them to the ``flowdesk:events`` stream; a worker
running inside a backend without Redis hands them over through an
``asyncio.Queue``. The middleware and ``FlowContext`` only see ``EventSink``,
so both modes share every line of worker code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from backend.worker.protocol import EVENTS_STREAM, WorkerEvent


class EventSink(Protocol):
    """Publishes events in order; returns only once they are durable."""

    async def publish(self, events: Sequence[WorkerEvent]) -> None: ...


class RedisStreamSink:
    """XADDs each event's JSON as field ``data``; several in one pipeline."""

    def __init__(self, redis: Redis, stream: str = EVENTS_STREAM) -> None:
        self._redis = redis
        self._stream = stream

    async def publish(self, events: Sequence[WorkerEvent]) -> None:
        if len(events) == 1:
            await self._redis.xadd(self._stream, {"data": events[0].to_json()})
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(self._stream, {"data": event.to_json()})
            await pipe.execute()


class QueueSink:
    """Hands events to an in-process consumer (the backend's in-memory mode)."""

    def __init__(self, queue: asyncio.Queue[WorkerEvent] | None = None) -> None:
        self.queue: asyncio.Queue[WorkerEvent] = queue if queue is not None else asyncio.Queue()

    async def publish(self, events: Sequence[WorkerEvent]) -> None:
        for event in events:
            self.queue.put_nowait(event)
