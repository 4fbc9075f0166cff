"""``FlowContext``: what a task learns about its job, through taskiq's injection.

A task declares ``ctx: FlowContext = TaskiqDepends()``; taskiq builds it from
the running message's ``taskiq.Context``. Events go through the runtime of
the broker that runs the task, so the same task code works on a Redis worker
and on the backend's in-process broker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError
from taskiq import Context, TaskiqDepends

from backend.clock import now_ms
from backend.worker.middleware import flow_label_of
from backend.worker.protocol import FlowLabel, WorkerEvent, WorkerEventType
from backend.worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def runtime_of(broker: object) -> WorkerRuntime:
    runtime = getattr(broker, "runtime", None)
    if not isinstance(runtime, WorkerRuntime):
        raise TypeError(
            f"{type(broker).__name__} is not a Flowdesk broker; build it with "
            "backend.worker.build_broker"
        )
    return runtime


class FlowContext:
    """The job's identity, its children's values, and progress/log reporting."""

    def __init__(self, context: Context = TaskiqDepends()) -> None:  # noqa: B008 (taskiq DI)
        message = context.message
        label = flow_label_of(message) or FlowLabel(flow_id="", attempt=1, queue="")
        self.job_id: str = message.task_id
        self.task_name: str = message.task_name
        self.flow_id: str = label.flow_id
        self.attempt: int = label.attempt
        self.queue: str = label.queue
        self.children_values: Mapping[str, Any] = label.children_values
        self.ignored_failures: Mapping[str, Any] = label.ignored_failures
        self._runtime = runtime_of(context.broker)

    def _event(self, kind: WorkerEventType, **extra: Any) -> WorkerEvent:
        return WorkerEvent(
            type=kind,
            job_id=self.job_id,
            attempt=self.attempt,
            worker_id=self._runtime.worker_id,
            time=now_ms(),
            **extra,
        )

    async def update_progress(self, value: Any) -> None:
        """Report progress: a number 0-100 or any JSON value (best effort, see below)."""
        await self._report(self._event(WorkerEventType.PROGRESS, progress=value))

    async def log(self, text: str) -> None:
        """Append a line to the job's log (best effort, see below)."""
        await self._report(self._event(WorkerEventType.LOG, message=str(text)))

    async def _report(self, event: WorkerEvent) -> None:
        """Publish a progress or log event; a broker that cannot take it now
        (Redis restarting) loses the report, not the job.

        These are notifications: failing the task because one could not be
        delivered would turn a Redis blip into a failed job. The job's own
        outcome is published by the middleware, which waits for Redis.
        """
        try:
            await self._runtime.publish(event)
        except (RedisError, OSError) as exc:
            log.warning(
                "report not delivered",
                extra={"job": self.job_id, "kind": event.type.value, "error": str(exc)},
            )
