"""Typed records of what the backend sends, parsed from its camelCase JSON.

The desktop talks to the backend only through its public wire format
(``backend/schemas.py`` is the contract), so it keeps its own small frozen
dataclasses instead of importing backend internals. Parsing is lenient about
extra fields (a newer server may add some) and strict about the ones the
window needs: a missing ``id`` is a :class:`ProtocolError`, not a crash later
in a paint handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

JSON = Any


class ProtocolError(ValueError):
    """The server sent JSON that does not have the documented shape."""


class JobState(StrEnum):
    WAITING_CHILDREN = "waiting-children"
    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> JobState:
        try:
            return cls(str(raw))
        except ValueError:
            return cls.UNKNOWN

    @property
    def finished(self) -> bool:
        return self in {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}


class FlowStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> FlowStatus:
        try:
            return cls(str(raw))
        except ValueError:
            return cls.UNKNOWN


def _str(raw: Mapping[str, JSON], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} must be a string, got {value!r}")
    return value


def _opt_str(raw: Mapping[str, JSON], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _mapping(raw: object, what: str) -> Mapping[str, JSON]:
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"{what} must be a JSON object, got {type(raw).__name__}")
    return raw


@dataclass(frozen=True)
class StuckInfo:
    job_id: str
    reason: str


@dataclass(frozen=True)
class FlowInfo:
    """A ``FlowResponse``."""

    id: str
    name: str
    status: FlowStatus
    root_job_id: str
    created_at: str
    updated_at: str
    counts: Mapping[str, int]
    total: int
    finished_at: str | None = None
    stuck: StuckInfo | None = None

    @property
    def done(self) -> int:
        """Jobs that reached a final state (the progress bar's numerator)."""
        return sum(self.counts.get(state.value, 0) for state in JobState if state.finished)

    @property
    def failed_jobs(self) -> int:
        return self.counts.get(JobState.FAILED.value, 0)

    @classmethod
    def from_json(cls, raw: object) -> FlowInfo:
        obj = _mapping(raw, "flow")
        counts_raw = obj.get("counts") or {}
        counts = {str(k): int(v) for k, v in _mapping(counts_raw, "counts").items()}
        stuck_raw = obj.get("stuck")
        stuck = None
        if isinstance(stuck_raw, Mapping):
            stuck = StuckInfo(_str(stuck_raw, "jobId"), str(stuck_raw.get("reason", "")))
        total = obj.get("total")
        return cls(
            id=_str(obj, "id"),
            name=_str(obj, "name"),
            status=FlowStatus.parse(obj.get("status")),
            root_job_id=_str(obj, "rootJobId"),
            created_at=_str(obj, "createdAt"),
            updated_at=_str(obj, "updatedAt"),
            counts=counts,
            total=int(total) if isinstance(total, int) else sum(counts.values()),
            finished_at=_opt_str(obj, "finishedAt"),
            stuck=stuck,
        )


@dataclass(frozen=True)
class JobInfo:
    """A ``FlowJobResponse``. ``parent_id`` and ``children`` are job ids."""

    id: str
    job_id: str
    flow_id: str
    parent_id: str | None
    name: str
    queue_name: str
    status: JobState
    children: tuple[str, ...]
    attempts_made: int
    created_at: str
    updated_at: str
    data: JSON = None
    opts: Mapping[str, JSON] | None = None
    result: JSON = None
    error: JSON = None
    progress: JSON = None
    started_at: str | None = None
    finished_at: str | None = None
    run_at: str | None = None

    @property
    def attempts_allowed(self) -> int:
        opts = self.opts or {}
        value = opts.get("attempts", 1)
        return value if isinstance(value, int) else 1

    @classmethod
    def from_json(cls, raw: object) -> JobInfo:
        obj = _mapping(raw, "job")
        children = obj.get("children") or []
        if not isinstance(children, list):
            raise ProtocolError("field 'children' must be a list")
        opts = obj.get("opts")
        return cls(
            id=str(obj.get("id", obj.get("jobId", ""))),
            job_id=_str(obj, "jobId"),
            flow_id=_str(obj, "flowId"),
            parent_id=_opt_str(obj, "parentId"),
            name=_str(obj, "name"),
            queue_name=_str(obj, "queueName"),
            status=JobState.parse(obj.get("status")),
            children=tuple(str(c) for c in children),
            attempts_made=int(obj.get("attemptsMade") or 0),
            created_at=_str(obj, "createdAt"),
            updated_at=_str(obj, "updatedAt"),
            data=obj.get("data"),
            opts=opts if isinstance(opts, Mapping) else None,
            result=obj.get("result"),
            error=obj.get("error"),
            progress=obj.get("progress"),
            started_at=_opt_str(obj, "startedAt"),
            finished_at=_opt_str(obj, "finishedAt"),
            run_at=_opt_str(obj, "runAt"),
        )


def flatten_tree(raw: object) -> list[JobInfo]:
    """Turn a ``FlowTreeNode`` (jobs nested under ``nodes``) into a flat list.

    Iterative, because a tree may be a thousand levels deep.
    """
    out: list[JobInfo] = []
    stack: list[object] = [raw]
    while stack:
        node = _mapping(stack.pop(), "tree node")
        out.append(JobInfo.from_json(node))
        nested = node.get("nodes") or []
        if isinstance(nested, list):
            stack.extend(reversed(nested))
    return out


@dataclass(frozen=True)
class FlowPage:
    items: tuple[FlowInfo, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, raw: object) -> FlowPage:
        obj = _mapping(raw, "flow page")
        items = obj.get("items") or []
        cursor = obj.get("nextCursor")
        return cls(
            tuple(FlowInfo.from_json(item) for item in items),
            None if cursor is None else str(cursor),
        )


@dataclass(frozen=True)
class QueueInfo:
    name: str
    counts: Mapping[str, int]

    @classmethod
    def from_json(cls, raw: object) -> QueueInfo:
        obj = _mapping(raw, "queue")
        counts = _mapping(obj.get("counts") or {}, "counts")
        return cls(_str(obj, "name"), {str(k): int(v) for k, v in counts.items()})


@dataclass(frozen=True)
class WorkerInfo:
    """One live worker from ``GET /workers`` (the ``flowdesk:workers`` record)."""

    id: str
    host: str
    pid: int | None
    queues: tuple[str, ...]
    tasks: tuple[str, ...]
    started_at: JSON = None
    heartbeat_at: JSON = None

    @classmethod
    def from_json(cls, raw: object) -> WorkerInfo:
        obj = _mapping(raw, "worker")
        pid = obj.get("pid")
        return cls(
            id=_str(obj, "id"),
            host=str(obj.get("host", "")),
            pid=pid if isinstance(pid, int) else None,
            queues=tuple(str(q) for q in obj.get("queues") or ()),
            tasks=tuple(str(t) for t in obj.get("tasks") or ()),
            started_at=obj.get("startedAt"),
            heartbeat_at=obj.get("heartbeatAt"),
        )


def items_of(raw: object) -> list[JSON]:
    """Accept both ``{"items": [...]}`` and a bare list."""
    if isinstance(raw, list):
        return raw
    items = _mapping(raw, "list response").get("items")
    if not isinstance(items, list):
        raise ProtocolError("expected an 'items' list")
    return items


@dataclass(frozen=True)
class ServerMessage:
    """One websocket message ``{"type", "seq", "data"}``."""

    type: str
    seq: int | None
    data: JSON

    @classmethod
    def from_json(cls, raw: object) -> ServerMessage:
        obj = _mapping(raw, "message")
        seq = obj.get("seq")
        return cls(
            type=_str(obj, "type"),
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            data=obj.get("data"),
        )
