"""The brokers a Flowdesk worker runs on, built from settings.

``FlowdeskStreamBroker`` is taskiq-redis's stream broker with the parts a
flow system needs and the stock one lacks:

- one stream per (queue, task) the worker knows, so a message only reaches
  workers that can run it; groups start at id ``0`` so messages sent before
  any worker existed are delivered;
- redelivery on a timer: every ``reclaim_idle / 2`` the listener claims
  (XAUTOCLAIM) messages that other consumers held for ``reclaim_idle``
  without acknowledging, even when no new message arrives, while a keepalive
  re-claims this worker's own in-flight messages so a long task is never
  taken from a live worker;
- acknowledgement deletes the entry too (one group per stream), and a job
  handed back at shutdown is never acknowledged;
- a short blocking read, so the listener notices shutdown promptly;
- registry heartbeat and the cancel channel while it runs as a worker.

``FlowdeskMemoryBroker`` is taskiq's in-memory broker with the same
middleware, publishing to an in-process ``QueueSink``.

Tasks register on ``backend.worker.broker`` (the object ``taskiq worker
backend.worker:broker`` runs, made on first access). A backend that runs
tasks in-process builds its own broker from its settings and hands it over
as ``backend.worker.broker`` before importing the task modules; when an
earlier broker of the process got there first, ``adopt_tasks`` moves the
tasks over. Either way the backend's broker runs them, and ``FlowContext``
uses its runtime (sink, worker id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, BrokerMessage, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from backend.backoff import Backoff
from backend.clock import now_ms
from backend.settings import Settings
from backend.shutdown import raise_if_cancelled
from backend.worker.heartbeat import Registration, WorkerInfo
from backend.worker.middleware import FlowEventsMiddleware
from backend.worker.protocol import (
    CONSUMER_GROUP,
    FLOW_LABEL,
    ErrorInfo,
    FlowLabel,
    WorkerEvent,
    WorkerEventType,
    stream_name,
)
from backend.worker.runtime import (
    WorkerRuntime,
    listen_for_cancels,
    new_worker_id,
)
from backend.worker.sinks import BatchingSink, EventSink, QueueSink, RedisStreamSink

logger = logging.getLogger(__name__)

Entries = list[tuple[str, bytes, bytes]]  # (stream, message id, data)
_REDIS_RETRY = Backoff(initial=0.1, maximum=5.0, jitter=0.2)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FlowdeskStreamBroker(RedisStreamBroker):
    """Redis stream broker: per-(queue, task) streams, timed reclaim, prompt stop."""

    def __init__(self, settings: Settings, sink: EventSink | None = None) -> None:
        reclaim_ms = max(1, int(settings.reclaim_idle * 1000))
        super().__init__(
            url=settings.redis_url,
            consumer_group_name=CONSUMER_GROUP,
            consumer_id="0",
            idle_timeout=reclaim_ms,
            xread_block=max(50, min(1000, reclaim_ms // 4)),
            xread_count=100,
        )
        self.settings = settings
        self.redis = Redis(connection_pool=self.connection_pool)
        self.runtime = WorkerRuntime(
            sink=sink or BatchingSink(RedisStreamSink(self.redis)),
            max_result_bytes=settings.max_result_bytes,
        )
        self.add_middlewares(FlowEventsMiddleware(self.runtime))
        self.streams: list[str] = []
        self.inflight: dict[tuple[str, bytes], None] = {}
        self._background: list[asyncio.Task[None]] = []
        self._registration: Registration | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------

    async def startup(self) -> None:
        # Skip RedisStreamBroker.startup: it would create the unused "taskiq" stream.
        await AsyncBroker.startup(self)
        if not self.is_worker_process:
            return
        self.runtime.worker_id = self.consumer_name = new_worker_id()
        tasks = sorted(self.get_all_tasks())
        queues = self.settings.worker_queues
        self.streams = [stream_name(queue, task) for queue in queues for task in tasks]
        await self._declare_groups()
        now = now_ms()
        info = WorkerInfo(
            id=self.runtime.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(queues),
            tasks=tuple(tasks),
            started_at=now,
            heartbeat_at=now,
        )
        self._registration = Registration(self.redis, info, self.settings.heartbeat_interval)
        await self._registration.beat()
        self._background = [
            asyncio.create_task(self._registration.run()),
            asyncio.create_task(listen_for_cancels(self.redis, self.runtime)),
            asyncio.create_task(self._keepalive()),
        ]
        logger.info("worker %s consumes %d streams", self.runtime.worker_id, len(self.streams))

    async def _declare_groups(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in self.streams:
                pipe.xgroup_create(stream, CONSUMER_GROUP, id="0", mkstream=True)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result

    async def shutdown(self) -> None:
        self._stopping = True
        for task in self._background:
            task.cancel()
        if self._background:
            # bounded: a task whose cancel a library swallows must not block exit
            await asyncio.wait(self._background, timeout=2.0)
        self._background = []
        if self._registration is not None:
            with contextlib.suppress(Exception):
                await self._registration.remove()
            self._registration = None
        await super().shutdown()

    def begin_stop(self) -> None:
        """Shutdown has begun: hand running jobs back if they outlast the timeout."""
        if self._stopping or not self.is_worker_process:
            return
        self._stopping = True
        delay = self.settings.shutdown_timeout * 0.7
        self._background.append(asyncio.create_task(self._hand_back_after(delay)))

    async def _hand_back_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        handed = self.runtime.hand_back_all()
        if handed:
            logger.warning("shutdown: handing back %d running jobs", len(handed))

    # -- sending ---------------------------------------------------------------------

    async def kick(self, message: BrokerMessage) -> None:
        """Send one message to its (queue, task) stream (the dispatcher pipelines its own)."""
        raw = message.labels.get(FLOW_LABEL)
        queue = FlowLabel.from_label(raw).queue if raw else self.settings.worker_queues[0]
        await self.redis.xadd(stream_name(queue, message.task_name), {"data": message.message})

    # -- receiving -------------------------------------------------------------------

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        if not self.streams:
            logger.warning("this worker knows no tasks: it consumes nothing")
        reclaim_every = self.settings.reclaim_idle / 2
        next_reclaim = 0.0
        failures = 0
        try:
            while True:
                entries: Entries = []
                try:
                    if time.monotonic() >= next_reclaim:
                        entries = await self._reclaim()
                        next_reclaim = time.monotonic() + reclaim_every
                        raise_if_cancelled()
                    if not entries:
                        entries = await self._read()
                        raise_if_cancelled()
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    # Redis is away (restarting, network): wait and read again,
                    # rather than let the worker process die with the error.
                    failures += 1
                    delay = _REDIS_RETRY.delay(failures)
                    logger.warning("redis unavailable (%s); retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # Redis came back empty: its streams and groups are gone.
                    logger.warning("consumer groups missing (Redis lost its data); recreating")
                    await self._declare_groups()
                    continue
                failures = 0
                # The whole batch is ours from now on: keep it fresh (keepalive)
                # while it waits for the receiver's capacity, not only once yielded.
                self.inflight.update(dict.fromkeys((entry[0], entry[1]) for entry in entries))
                for stream, msg_id, data in entries:
                    self.runtime.deliveries[_task_id(data)] = (stream, _text(msg_id))
                    yield AckableMessage(data=data, ack=self._acker(stream, msg_id, data))
        finally:
            self.begin_stop()

    async def _read(self) -> Entries:
        if not self.streams:
            await asyncio.sleep(self.block / 1000)
            return []
        fetched: Any = await self.redis.xreadgroup(
            CONSUMER_GROUP,
            self.consumer_name,
            dict.fromkeys(self.streams, ">"),
            count=self.count,
            block=self.block,
        )
        return [
            (_text(stream), msg_id, fields[b"data"])
            for stream, messages in fetched or []
            for msg_id, fields in messages
            if fields and b"data" in fields
        ]

    async def _reclaim(self) -> Entries:
        """Claim messages that dead (silent) consumers left unacknowledged."""
        if not self.streams:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in self.streams:
                pipe.xautoclaim(
                    stream,
                    CONSUMER_GROUP,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
            results = await pipe.execute()
        entries: Entries = []
        for stream, result in zip(self.streams, results, strict=True):
            claimed = result[1]
            for msg_id, fields in claimed:
                if fields and b"data" in fields:
                    entries.append((stream, msg_id, fields[b"data"]))
        if entries:
            logger.warning("reclaimed %d messages of silent workers", len(entries))
        return entries

    async def _keepalive(self) -> None:
        """Reset the idle time of this worker's in-flight messages (XCLAIM JUSTID)."""
        while True:
            await asyncio.sleep(self.settings.reclaim_idle / 3)
            by_stream: dict[str, list[Any]] = {}
            for stream, msg_id in list(self.inflight):
                by_stream.setdefault(stream, []).append(msg_id)
            if not by_stream:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for stream, ids in by_stream.items():
                        pipe.xclaim(stream, CONSUMER_GROUP, self.consumer_name, 0, ids, justid=True)
                    await pipe.execute()
            except Exception:
                logger.warning("keepalive of in-flight messages failed", exc_info=True)

    def _acker(self, stream: str, msg_id: bytes, data: bytes) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            self.inflight.pop((stream, msg_id), None)
            self.runtime.deliveries.pop(_task_id(data), None)
            if self.runtime.handed_back and _task_id(data) in self.runtime.handed_back:
                return  # left pending: another worker claims it after reclaim_idle
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(stream, CONSUMER_GROUP, msg_id)
                pipe.xdel(stream, msg_id)
                await pipe.execute()

        return ack


def _task_id(data: bytes) -> str:
    try:
        return str(json.loads(data)["task_id"])
    except (ValueError, KeyError, TypeError):
        return ""


class FlowdeskMemoryBroker(InMemoryBroker):
    """taskiq's in-memory broker with Flowdesk's events, for a backend without Redis."""

    def __init__(self, settings: Settings, sink: EventSink | None = None) -> None:
        super().__init__(max_stored_results=1)
        self.settings = settings
        self.runtime = WorkerRuntime(
            sink=sink or QueueSink(),
            max_result_bytes=settings.max_result_bytes,
            worker_id=f"inprocess-{new_worker_id()}",
        )
        self.add_middlewares(FlowEventsMiddleware(self.runtime))

    async def kick(self, message: BrokerMessage) -> None:
        """Run the task in this process; an unknown task fails its job at once."""
        if self.find_task(message.task_name) is not None:
            await super().kick(message)
            return
        raw = message.labels.get(FLOW_LABEL)
        if not raw:
            await super().kick(message)  # raises taskiq's UnknownTaskError
            return
        label = FlowLabel.from_label(raw)
        error = ErrorInfo(
            "UnknownTask",
            f"no worker of queue {label.queue!r} knows task {message.task_name!r} "
            "(the in-process worker has not imported it)",
        )
        event = WorkerEvent(
            type=WorkerEventType.FAILED,
            job_id=message.task_id,
            attempt=label.attempt,
            worker_id=self.runtime.worker_id,
            time=now_ms(),
            error=error,
            retryable=False,
        )
        await self.runtime.publish(event)


def build_broker(settings: Settings, sink: EventSink | None = None) -> AsyncBroker:
    """The broker ``settings`` ask for; ``sink`` overrides where events go."""
    if settings.in_memory_broker:
        return FlowdeskMemoryBroker(settings, sink)
    return FlowdeskStreamBroker(settings, sink)


def adopt_tasks(target: AsyncBroker, source: AsyncBroker) -> list[str]:
    """Make ``target`` run every task registered on ``source``; returns their names.

    Used by a backend that runs task modules (which register on the importable
    ``backend.worker.broker``) with its own broker.
    """
    tasks: dict[str, Any] = source.get_all_tasks()
    target.local_task_registry.update(tasks)
    return sorted(tasks)
