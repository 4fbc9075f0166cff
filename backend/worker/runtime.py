"""Per-broker worker state: identity, event sink, and the jobs running now.

The middleware, ``FlowContext``, the cancel listener and the broker's
shutdown all need the same few facts (which asyncio task runs which job,
which jobs were asked to stop and why). They live on one object hung on the
broker (``broker.runtime``) instead of in module globals, so a backend can
run its own in-process broker next to the importable one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field

from redis.asyncio import Redis

# On Python 3.11 redis-py loses a cancel both on reads (one landing as its
# asyncio.timeout expires comes back as a None reply) and on writes (wait_for);
# the worker's loops call raise_if_cancelled after each Redis call.
from backend.shutdown import raise_if_cancelled
from backend.worker.protocol import CANCEL_CHANNEL, WorkerEvent
from backend.worker.sinks import EventSink

logger = logging.getLogger(__name__)


def new_worker_id() -> str:
    """Unique per process start: also the stream consumer name."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class StopReason(enum.StrEnum):
    """Why a running job's asyncio task was cancelled."""

    CANCELLED = "cancelled"  # the backend asked (flow or job cancel)
    HANDED_BACK = "handed_back"  # the worker is shutting down: leave it for another


# How often a stop request is repeated until the job's task unwinds (see stop()).
RECANCEL_INTERVAL_S = 0.2


@dataclass
class WorkerRuntime:
    """Mutable state of one worker (one broker in one process)."""

    sink: EventSink
    max_result_bytes: int
    worker_id: str = field(default_factory=new_worker_id)
    running: dict[str, asyncio.Task[object]] = field(default_factory=dict)
    stopped: dict[str, StopReason] = field(default_factory=dict)
    handed_back: set[str] = field(default_factory=set)  # never acknowledge these
    deliveries: dict[str, tuple[str, str]] = field(default_factory=dict)  # job -> stream, id
    _enforcers: set[asyncio.Task[None]] = field(default_factory=set)

    async def publish(self, *events: WorkerEvent) -> None:
        await self.sink.publish(events)

    async def publish_soon(self, event: WorkerEvent) -> None:
        """Publish without waiting for the write when the sink can batch."""
        defer = getattr(self.sink, "defer", None)
        if defer is None:
            await self.sink.publish((event,))
        else:
            defer(event)

    def job_started(self, job_id: str) -> None:
        """Record the current asyncio task as the one running ``job_id``."""
        task = asyncio.current_task()
        if task is not None:
            self.running[job_id] = task

    def job_unwound(self, job_id: str) -> None:
        """The task function of ``job_id`` has ended (called synchronously).

        From here on a stop request must not reach the task: clear pending
        cancellations so the rest of the callback (events, ack) awaits normally.
        """
        task = self.running.pop(job_id, None)
        if task is not None and job_id in self.stopped:
            while task.cancelling():
                task.uncancel()

    def job_finished(self, job_id: str) -> StopReason | None:
        """Forget ``job_id``; returns why it was stopped, if it was."""
        self.job_unwound(job_id)
        reason = self.stopped.pop(job_id, None)
        if reason is StopReason.HANDED_BACK:
            self.handed_back.add(job_id)
        return reason

    def stop(self, job_id: str, reason: StopReason) -> bool:
        """Cancel ``job_id`` if it runs here; True if it did.

        The cancel is repeated until the task function unwinds, because on
        Python 3.11 redis-py can swallow a cancellation that arrives during a
        Redis call (an ``update_progress`` or ``log``, say).
        """
        task = self.running.get(job_id)
        if task is None or job_id in self.stopped:
            return task is not None
        self.stopped[job_id] = reason
        task.cancel()
        enforcer = asyncio.create_task(self._enforce_stop(job_id, task))
        self._enforcers.add(enforcer)
        enforcer.add_done_callback(self._enforcers.discard)
        return True

    async def _enforce_stop(self, job_id: str, task: asyncio.Task[object]) -> None:
        while True:
            await asyncio.sleep(RECANCEL_INTERVAL_S)
            if self.running.get(job_id) is not task or task.done():
                return
            task.cancel()

    def hand_back_all(self) -> list[str]:
        """Stop every running job so that its message stays unacknowledged."""
        return [job for job in list(self.running) if self.stop(job, StopReason.HANDED_BACK)]


async def listen_for_cancels(redis: Redis, runtime: WorkerRuntime) -> None:
    """Cancel jobs named on ``flowdesk:cancel`` that run on this worker.

    A cancelled job publishes ``failed`` with error type ``Cancelled`` (see the
    middleware); a job not running here is ignored, because some other worker
    or nobody runs it.
    """
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe(CANCEL_CHANNEL)
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            raise_if_cancelled()
            if message is None or message.get("type") != "message":
                continue
            raw = message["data"]
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if runtime.stop(job_id, StopReason.CANCELLED):
                logger.info("cancelled job %s on request", job_id)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
