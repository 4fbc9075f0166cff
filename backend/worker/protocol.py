"""The wire between the backend and its workers, as pure helpers both sides share.

docs/architecture.md fixes the contract: one Redis stream per (queue, task
name), each entry a serialised taskiq message whose ``flowdesk`` label carries
the flow context; workers answer with JSON events on one stream. Keeping the
encoding in one module without I/O means the dispatcher, the event consumer
and the worker cannot disagree about it, and it is tested with plain calls.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taskiq.message import TaskiqMessage

EVENTS_STREAM = "flowdesk:events"
WORKERS_KEY = "flowdesk:workers"
CANCEL_CHANNEL = "flowdesk:cancel"
CONSUMER_GROUP = "flowdesk"
STREAM_PREFIX = "flowdesk:q:"
FLOW_LABEL = "flowdesk"
TIMEOUT_LABEL = "timeout"
# Workers must publish a job's final event before acknowledging its message;
# taskiq's "when_saved" acks after the middlewares' post_execute, whatever
# ``--ack-type`` the worker was started with (a task label overrides it).
ACK_LABEL = "ack_type"
ACK_AFTER_EVENTS = "when_saved"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def stream_name(queue: str, task: str) -> str:
    """The stream that carries jobs of ``task`` on ``queue``."""
    return f"{STREAM_PREFIX}{queue}:{task}"


@dataclass(frozen=True)
class FlowLabel:
    """What a task needs to know about its place in the flow."""

    flow_id: str
    attempt: int
    queue: str
    children_values: Mapping[str, Any] = field(default_factory=dict)
    ignored_failures: Mapping[str, Any] = field(default_factory=dict)

    def to_label(self) -> str:
        """The label text: a JSON string (some brokers keep labels as strings)."""
        return _compact(
            {
                "flowId": self.flow_id,
                "attempt": self.attempt,
                "queue": self.queue,
                "childrenValues": dict(self.children_values),
                "ignoredFailures": dict(self.ignored_failures),
            }
        )

    @classmethod
    def from_label(cls, raw: str | bytes | Mapping[str, Any]) -> FlowLabel:
        """Parse the label; accepts the JSON text or an already-decoded object."""
        obj = json.loads(raw) if isinstance(raw, str | bytes) else raw
        if not isinstance(obj, Mapping):
            raise ValueError(f"flowdesk label is not a JSON object: {raw!r}")
        return cls(
            flow_id=str(obj["flowId"]),
            attempt=int(obj["attempt"]),
            queue=str(obj["queue"]),
            children_values=dict(obj.get("childrenValues") or {}),
            ignored_failures=dict(obj.get("ignoredFailures") or {}),
        )


def build_message(
    job_id: str,
    task_name: str,
    data: Any,
    flow_label: FlowLabel,
    timeout_s: float | None = None,
) -> bytes:
    """A serialised taskiq message (the stream entry's ``data`` field).

    Built with taskiq's own ``TaskiqMessage`` so the worker's formatter parses
    it like any message that ``kiq`` would have sent.
    """
    labels: dict[str, Any] = {
        FLOW_LABEL: flow_label.to_label(),
        ACK_LABEL: ACK_AFTER_EVENTS,
    }
    if timeout_s is not None:
        labels[TIMEOUT_LABEL] = float(timeout_s)
    message = TaskiqMessage(
        task_id=job_id,
        task_name=task_name,
        labels=labels,
        args=[data],
        kwargs={},
    )
    return message.model_dump_json().encode()


def message_attempt(body: bytes) -> tuple[str, int] | None:
    """``(job id, attempt)`` of a message :func:`build_message` made; None if unreadable."""
    try:
        message = json.loads(body)
        return str(message["task_id"]), FlowLabel.from_label(message["labels"][FLOW_LABEL]).attempt
    except (ValueError, TypeError, KeyError):
        return None


class WorkerEventType(enum.StrEnum):
    """Lifecycle events a worker reports for a job."""

    ACTIVE = "active"
    PROGRESS = "progress"
    LOG = "log"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class ErrorInfo:
    """Why a job failed, as the event carries it."""

    type: str
    message: str
    traceback: str = ""

    def to_obj(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> ErrorInfo:
        return cls(str(obj["type"]), str(obj["message"]), str(obj.get("traceback") or ""))


@dataclass(frozen=True)
class WorkerEvent:
    """One entry of ``flowdesk:events``.

    Only the field that belongs to ``type`` goes on the wire: ``progress``,
    ``message`` (log), ``result`` (completed; may be JSON null), or ``error``
    and ``retryable`` (failed).
    """

    type: WorkerEventType
    job_id: str
    attempt: int
    worker_id: str
    time: int
    progress: Any = None
    message: str = ""
    result: Any = None
    error: ErrorInfo | None = None
    retryable: bool = True
    # active only: where the message sits, so the backend can drop it from the
    # stream once it has retried the job elsewhere (a dead worker's message
    # would otherwise be reclaimed and run a second, stale time)
    delivery: tuple[str, str] | None = None

    def to_obj(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "type": self.type.value,
            "jobId": self.job_id,
            "attempt": self.attempt,
            "workerId": self.worker_id,
            "time": self.time,
        }
        if self.type is WorkerEventType.ACTIVE and self.delivery is not None:
            obj["stream"], obj["messageId"] = self.delivery
        elif self.type is WorkerEventType.PROGRESS:
            obj["progress"] = self.progress
        elif self.type is WorkerEventType.LOG:
            obj["message"] = self.message
        elif self.type is WorkerEventType.COMPLETED:
            obj["result"] = self.result
        elif self.type is WorkerEventType.FAILED:
            error = self.error or ErrorInfo("Error", "")
            obj["error"] = error.to_obj()
            obj["retryable"] = self.retryable
        return obj

    def to_json(self) -> str:
        return _compact(self.to_obj())

    @classmethod
    def from_json(cls, raw: str | bytes) -> WorkerEvent:
        obj = json.loads(raw)
        kind = WorkerEventType(obj["type"])
        error = obj.get("error")
        return cls(
            type=kind,
            job_id=str(obj["jobId"]),
            attempt=int(obj["attempt"]),
            worker_id=str(obj.get("workerId", "")),
            time=int(obj["time"]),
            progress=obj.get("progress"),
            message=str(obj.get("message", "")),
            result=obj.get("result"),
            error=ErrorInfo.from_obj(error) if isinstance(error, Mapping) else None,
            retryable=bool(obj.get("retryable", True)),
            delivery=(
                (str(obj["stream"]), str(obj["messageId"]))
                if kind is WorkerEventType.ACTIVE and "stream" in obj and "messageId" in obj
                else None
            ),
        )
