"""The engine's inputs and outputs: worker events, outcomes, error types, backoff.

Plain records and one pure function, kept apart from the state machine in
``engine.py`` so that module holds only the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backend.domain.models import JSON, BackoffType, FlowStatus, Job, StuckInfo

CHILD_FAILED = "ChildFailed"
STALLED = "Stalled"
# A dead worker's attempt is counted in attemptsMade but does not use up the
# job's budget, up to this many times (BullMQ's maxStalledCount); after that
# the job fails, so a task that kills its worker cannot loop forever.
MAX_STALLS = 3


class InvalidTransition(Exception):
    """An operator command that the job's or flow's state does not allow."""

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class ReportType(StrEnum):
    ACTIVE = "active"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Report:
    """A worker's report about one attempt of one job."""

    type: ReportType
    job_id: str
    attempt: int
    time: int
    worker_id: str | None = None
    result: JSON = None
    progress: JSON = None
    error: JSON = None  # {"type", "message", "traceback"}
    retryable: bool = True


@dataclass
class Outcome:
    """What one batch of inputs changed in a flow."""

    patches: dict[str, dict[str, Any]] = field(default_factory=dict)
    flow_status: FlowStatus | None = None
    flow_finished_at: int | None = None
    stuck_changed: bool = False
    stuck: StuckInfo | None = None
    cancel_running: list[str] = field(default_factory=list)
    applied: int = 0
    stale: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.patches) or self.flow_status is not None or self.stuck_changed


def backoff_ms(job: Job, attempt_in_budget: int, rand: Callable[[], float]) -> int:
    """Wait before retry number ``attempt_in_budget`` (1 = after the first failure)."""
    backoff = job.opts.backoff
    if backoff is None or backoff.delay <= 0:
        return 0
    if backoff.type is BackoffType.EXPONENTIAL:
        delay = (2 ** (attempt_in_budget - 1)) * backoff.delay
    else:
        delay = backoff.delay
    if backoff.jitter:
        delay = int(delay * (1 - backoff.jitter * rand()))
    return int(delay)
