"""Typed records of the domain: flows, jobs, their states and options.

These are plain frozen dataclasses and ``str`` enums with no I/O. The store
turns rows into them, the engine decides on them, and the API turns them into
wire schemas. JSON-valued fields (``data``, ``result``, ...) are kept as
decoded Python values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = Any  # a decoded JSON value; pydantic checks shape at the wire


class JobState(StrEnum):
    """BullMQ's job states, plus ``cancelled``."""

    WAITING_CHILDREN = "waiting-children"
    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


class FlowStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class BackoffType(StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True)
class Backoff:
    type: BackoffType = BackoffType.FIXED
    delay: int = 0  # milliseconds
    jitter: float = 0.0  # 0..1, share of the delay that is randomised


class FailurePolicy(StrEnum):
    """What a child's final failure does to its parent (DESIGN.md's table)."""

    WAIT = "wait"  # default: parent stays waiting-children, flow is stuck
    FAIL_PARENT = "failParentOnFailure"
    IGNORE = "ignoreDependencyOnFailure"
    REMOVE = "removeDependencyOnFailure"
    CONTINUE = "continueParentOnFailure"


@dataclass(frozen=True)
class JobOptions:
    attempts: int = 1
    backoff: Backoff | None = None
    delay: int = 0  # milliseconds before the first run
    priority: int = 0  # lower runs first; 0 = none
    timeout: int | None = None  # milliseconds per attempt
    job_id: str | None = None
    on_failure: FailurePolicy = FailurePolicy.WAIT
    concurrency_key: str | None = None  # counted against its queue's keyConcurrency
    fail_fast: bool = False  # when this parent fails, cancel its unfinished descendants

    def to_json(self) -> dict[str, JSON]:
        """The BullMQ-named ``opts`` object as stored and returned."""
        out: dict[str, JSON] = {"attempts": self.attempts}
        if self.backoff is not None:
            backoff: dict[str, JSON] = {
                "type": self.backoff.type.value,
                "delay": self.backoff.delay,
            }
            if self.backoff.jitter:
                backoff["jitter"] = self.backoff.jitter
            out["backoff"] = backoff
        if self.delay:
            out["delay"] = self.delay
        if self.priority:
            out["priority"] = self.priority
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.job_id is not None:
            out["jobId"] = self.job_id
        if self.on_failure is not FailurePolicy.WAIT:
            out[self.on_failure.value] = True
        if self.concurrency_key is not None:
            out["concurrencyKey"] = self.concurrency_key
        if self.fail_fast:
            out["failFast"] = True
        return out

    @classmethod
    def from_json(cls, raw: dict[str, JSON] | None) -> JobOptions:
        """Inverse of :meth:`to_json`, for values already validated at the wire."""
        raw = raw or {}
        backoff_raw = raw.get("backoff")
        backoff: Backoff | None
        if backoff_raw is None:
            backoff = None
        elif isinstance(backoff_raw, int | float):
            backoff = Backoff(BackoffType.FIXED, int(backoff_raw))
        else:
            backoff = Backoff(
                BackoffType(backoff_raw.get("type", "fixed")),
                int(backoff_raw.get("delay", 0)),
                float(backoff_raw.get("jitter", 0.0)),
            )
        policy = next(
            (p for p in FailurePolicy if p is not FailurePolicy.WAIT and raw.get(p.value)),
            FailurePolicy.WAIT,
        )
        return cls(
            attempts=int(raw.get("attempts", 1)),
            backoff=backoff,
            delay=int(raw.get("delay", 0)),
            priority=int(raw.get("priority", 0)),
            timeout=None if raw.get("timeout") is None else int(raw["timeout"]),
            job_id=raw.get("jobId"),
            on_failure=policy,
            concurrency_key=raw.get("concurrencyKey"),
            fail_fast=bool(raw.get("failFast", False)),
        )


@dataclass(frozen=True)
class Job:
    """One stored job. Times are epoch milliseconds."""

    id: str
    job_id: str
    flow_id: str
    parent_id: str | None  # the parent's job_id
    name: str
    queue_name: str
    data: JSON
    opts: JobOptions
    status: JobState
    children: tuple[str, ...]  # children's job_ids, in request order
    created_at: int
    updated_at: int
    result: JSON = None
    error: JSON = None  # {"type", "message", "traceback"} once failed
    attempts_made: int = 0  # attempts started, ever; worker events carry the attempt number
    retry_base: int = 0  # attempts_made at the last operator retry (fresh budget)
    stalls: int = 0  # attempts lost because the worker died (see engine.MAX_STALLS)
    progress: JSON = None
    started_at: int | None = None
    finished_at: int | None = None
    run_at: int | None = None  # not before this time (delay, backoff)
    dispatched: bool = False  # the current attempt's message reached Redis
    # the worker its latest attempt started on, kept after the attempt ends (the
    # operator asks where a job ran); only an active job's worker is checked for life
    worker_id: str | None = None
    depth: int = 0  # root is 0
    held_by: str | None = None  # why a ready job is not sent (backend.domain.limits.HeldBy)


@dataclass(frozen=True)
class StuckInfo:
    """Why a flow cannot progress without an operator."""

    job_id: str
    reason: str


@dataclass(frozen=True)
class Flow:
    id: str
    name: str
    user_id: str
    status: FlowStatus
    root_job_id: str
    created_at: int
    updated_at: int
    counts: dict[str, int] = field(default_factory=dict)  # JobState value -> number
    stuck: StuckInfo | None = None
    finished_at: int | None = None
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    id: str
    name: str
    created_at: int


@dataclass(frozen=True)
class JobLog:
    """One line a task logged through its context, in the attempt that logged it."""

    attempt: int
    message: str
    created_at: int
