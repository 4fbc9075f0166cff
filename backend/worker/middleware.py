"""The taskiq middleware that turns task execution into Flowdesk events.

taskiq calls ``pre_execute`` before a task and ``post_execute`` after it (on
success and on error alike), both before the message is acknowledged when
the ack type is ``when_saved`` (which every Flowdesk message asks for with
its ``ack_type`` label). Publishing the final event in ``post_execute`` thus
happens before the ack: a worker that dies in between leaves the message
pending, it is redelivered, and the backend drops the duplicate event.

Messages without a ``flowdesk`` label (a plain ``kiq`` call) run untouched.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from backend.clock import now_ms
from backend.worker.protocol import (
    FLOW_LABEL,
    TIMEOUT_LABEL,
    ErrorInfo,
    FlowLabel,
    WorkerEvent,
    WorkerEventType,
)
from backend.worker.runtime import StopReason, WorkerRuntime
from backend.worker.tracebacks import portable_traceback

logger = logging.getLogger(__name__)

# taskiq rounds execution_time to 0.01 s; a TimeoutError this close to the
# label's limit is the limit's, not one the task raised itself.
_TIMEOUT_SLACK_S = 0.05


def flow_label_of(message: TaskiqMessage) -> FlowLabel | None:
    raw = message.labels.get(FLOW_LABEL)
    if raw is None:
        return None
    try:
        return FlowLabel.from_label(raw)
    except (ValueError, KeyError, TypeError):
        logger.warning("job %s has an unreadable flowdesk label: %r", message.task_id, raw)
        return None


def timeout_of(message: TaskiqMessage) -> float | None:
    raw = message.labels.get(TIMEOUT_LABEL)
    try:
        return None if raw is None else float(raw)
    except (TypeError, ValueError):
        return None


def encode_result(value: Any, max_bytes: int) -> ErrorInfo | None:
    """Check a return value can travel as the job's result; None if it can."""
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        return ErrorInfo(
            "ResultNotSerializable",
            f"the task's return value is not JSON-serialisable: {exc}",
        )
    if size > max_bytes:
        return ErrorInfo(
            "ResultTooLarge",
            f"the task's return value is {size} bytes of JSON, more than the "
            f"limit of {max_bytes} bytes (max_result_bytes)",
        )
    return None


def describe_error(message: TaskiqMessage, result: TaskiqResult[Any]) -> ErrorInfo:
    error = result.error
    if error is None:
        return ErrorInfo("Error", "the task failed without an exception")
    text = portable_traceback(error)
    limit = timeout_of(message)
    if (
        isinstance(error, TimeoutError)
        and limit is not None
        and result.execution_time >= limit - _TIMEOUT_SLACK_S
    ):
        return ErrorInfo(
            "TimeoutError",
            f"task {message.task_name!r} did not finish within its timeout of {limit:g} s",
            text,
        )
    return ErrorInfo(type(error).__name__, str(error), text)


class FlowEventsMiddleware(TaskiqMiddleware):
    """Publishes active, completed and failed events of Flowdesk jobs."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        super().__init__()
        self.runtime = runtime

    def _event(
        self, kind: WorkerEventType, job_id: str, label: FlowLabel, **extra: Any
    ) -> WorkerEvent:
        return WorkerEvent(
            type=kind,
            job_id=job_id,
            attempt=label.attempt,
            worker_id=self.runtime.worker_id,
            time=now_ms(),
            **extra,
        )

    async def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        label = flow_label_of(message)
        if label is None:
            return message
        # Deferred: it shares a write with the completion of a quick job, and
        # is out within the sink's defer time for a long one.
        delivery = self.runtime.deliveries.get(message.task_id)
        active = self._event(WorkerEventType.ACTIVE, message.task_id, label, delivery=delivery)
        await self.runtime.publish_soon(active)
        # Registered only now: a cancel cannot land inside the publish above,
        # where it would abort the receiver's callback before its ack.
        self.runtime.job_started(message.task_id)
        return message

    def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        # Synchronous on purpose: runs right after the task function raised,
        # with no await in between, so a repeated stop request cannot hit
        # the event publishing that follows.
        self.runtime.job_unwound(message.task_id)

    async def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        reason = self.runtime.job_finished(message.task_id)
        label = flow_label_of(message)
        if label is None or reason is StopReason.HANDED_BACK:
            return
        job_id = message.task_id
        if reason is StopReason.CANCELLED:
            error = ErrorInfo("Cancelled", f"job {job_id} was cancelled while running")
            event = self._event(WorkerEventType.FAILED, job_id, label, error=error, retryable=False)
        elif result.is_err:
            error = describe_error(message, result)
            event = self._event(WorkerEventType.FAILED, job_id, label, error=error)
        else:
            value = result.return_value
            problem = encode_result(value, self.runtime.max_result_bytes)
            if problem is None:
                event = self._event(WorkerEventType.COMPLETED, job_id, label, result=value)
            else:
                event = self._event(
                    WorkerEventType.FAILED, job_id, label, error=problem, retryable=False
                )
        await self.runtime.publish(event)
