"""What an operator can ask of many flows and jobs at once, as plain records.

``GET /flows``, ``POST /flows/bulk`` (by filter) and ``backend prune`` all
select flows; ``GET /jobs`` selects jobs across flows. The REST layer turns
query strings and bodies into these records and the store turns them into
SQL, so neither has to know the other's spelling. Times are epoch
milliseconds; an ``*_after`` bound is inclusive and a ``*_before`` bound
exclusive, so consecutive windows never count a flow twice.

Metadata values are matched as text: the query string ``meta.retries=3``
can only say "3", so a stored number, boolean or string is compared through
:func:`meta_text`, the one spelling both sides agree on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from backend.domain.models import FlowStatus, JobState

MetaValue = str | int | float | bool


class FlowSort(StrEnum):
    CREATED = "created"  # newest first (every flow)
    FINISHED = "finished"  # most recently finished first (finished flows only)
    DURATION = "duration"  # longest first, finish minus creation (finished flows only)


class BulkAction(StrEnum):
    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"


FINISHED_STATUSES = (FlowStatus.COMPLETED, FlowStatus.FAILED, FlowStatus.CANCELLED)


def meta_text(value: MetaValue) -> str:
    """The text a metadata value is matched by: JSON's spelling, integral floats as integers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class FlowFilter:
    """Which flows: every field that is set must hold (AND)."""

    search: str | None = None  # case-insensitive substring of the name
    statuses: tuple[FlowStatus, ...] = ()  # any of them
    meta: tuple[tuple[str, str], ...] = ()  # (key, meta_text(value)) pairs, all of them
    task: str | None = None  # holds a job running this task name
    job_id: str | None = None  # holds the job with this jobId
    created_after: int | None = None
    created_before: int | None = None
    finished_after: int | None = None
    finished_before: int | None = None
    sort: FlowSort = FlowSort.CREATED

    @property
    def only_finished(self) -> bool:
        """Whether only finished flows can match (a finish bound or a finish order)."""
        return (
            self.finished_after is not None
            or self.finished_before is not None
            or self.sort is not FlowSort.CREATED
        )


@dataclass(frozen=True)
class Position:
    """Where a page ends: the sort key of its last row (None for the creation
    order and for unfinished jobs) and that row's sequence number."""

    key: int | None
    seq: int


@dataclass(frozen=True)
class JobFilter:
    """Which jobs, across all of a user's flows."""

    state: JobState | None = None
    task: str | None = None
    queue: str | None = None
    error_type: str | None = None
    finished_after: int | None = None
    finished_before: int | None = None

    @property
    def only_finished(self) -> bool:
        return self.finished_after is not None or self.finished_before is not None


@dataclass(frozen=True)
class RetentionRule:
    """Keep finished flows of ``statuses`` for ``max_age_ms`` and/or the newest
    ``max_count`` of them; None disables that half."""

    statuses: tuple[FlowStatus, ...]
    max_age_ms: int | None = None
    max_count: int | None = None

    @property
    def enabled(self) -> bool:
        return self.max_age_ms is not None or self.max_count is not None
