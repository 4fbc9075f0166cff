"""Per-task statistics over a time window: how long a task takes, how often it fails.

Theory of operation. The input is one :class:`Outcome` per job that
finished (completed or finally failed) inside the window, as the event log
recorded it; the output is one :class:`TaskStats` per task name: how many
completed and failed, the failure rate, and the 50th and 95th percentile of
the run time (``startedAt`` to ``finishedAt``) over every finished job of
that task that has both times. Percentiles are *nearest-rank*: the value
at rank ceil(q * n) of the sorted durations, always a duration that was
really observed, and exact for the small samples of a quiet hour.

Pure: no I/O, no clock; the store collects the outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str  # the task name
    failed: bool
    duration_ms: int | None  # None when the job never started (e.g. failed by its child)


@dataclass(frozen=True)
class TaskStats:
    name: str
    completed: int
    failed: int
    p50_ms: int | None  # None: no finished job of the task has a run time
    p95_ms: int | None

    @property
    def failure_rate(self) -> float:
        finished = self.completed + self.failed
        return self.failed / finished if finished else 0.0


def nearest_rank(ordered: Sequence[int], q: float) -> int | None:
    """The ``q`` (0 < q <= 1) percentile of ascending ``ordered`` by nearest rank."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def task_stats(outcomes: Iterable[Outcome]) -> list[TaskStats]:
    """One record per task name, by name."""
    by_name: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_name.setdefault(outcome.name, []).append(outcome)
    out = []
    for name in sorted(by_name):
        runs = by_name[name]
        durations = sorted(o.duration_ms for o in runs if o.duration_ms is not None)
        failed = sum(1 for o in runs if o.failed)
        out.append(
            TaskStats(
                name=name,
                completed=len(runs) - failed,
                failed=failed,
                p50_ms=nearest_rank(durations, 0.5),
                p95_ms=nearest_rank(durations, 0.95),
            )
        )
    return out
