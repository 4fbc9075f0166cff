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


class BatchingSink:
    """Coalesces publishes into one pipelined write (group commit for Redis).

    ``publish`` still returns only once its events are written, so a job's
    final event is durable before its message is acknowledged; publishers
    that arrive while a write is in flight share the next one. ``defer``
    queues an event without waiting: it goes out with the next write, or
    after ``defer_s`` at the latest. The ``active`` event of a job that
    finishes quickly thus shares a round trip with its completion, while a
    long job still shows as active within ``defer_s``. One writer task at a
    time keeps the stream in call order.
    """

    def __init__(self, inner: EventSink, defer_s: float = 0.05) -> None:
        self.inner = inner
        self.defer_s = defer_s
        self._pending: list[WorkerEvent] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def publish(self, events: Sequence[WorkerEvent]) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.extend(events)
        self._waiters.append(done)
        self._kick()
        await asyncio.shield(done)

    def defer(self, event: WorkerEvent) -> None:
        self._pending.append(event)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.defer_s, self._kick)

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let publishers of this loop turn join the batch
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await self.inner.publish(batch)
            except Exception as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)


class QueueSink:
    """Hands events to an in-process consumer (the backend's in-memory mode)."""

    def __init__(self, queue: asyncio.Queue[WorkerEvent] | None = None) -> None:
        self.queue: asyncio.Queue[WorkerEvent] = queue if queue is not None else asyncio.Queue()

    async def publish(self, events: Sequence[WorkerEvent]) -> None:
        for event in events:
            self.queue.put_nowait(event)
