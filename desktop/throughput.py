"""Completed and failed jobs per minute, from the live job updates.

Pure bookkeeping for the throughput chart: each :class:`JobFinished` change
is counted in the minute of its ``finishedAt``; only the last ``window``
minutes are kept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from backend.schemas import JobState


@dataclass(frozen=True)
class Bucket:
    minute: int  # epoch minute
    completed: int
    failed: int


def epoch_minute(iso: str) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp() // 60)
    except ValueError:
        return None


class Throughput:
    def __init__(self, window: int = 30) -> None:
        self.window = window
        self._counts: dict[int, dict[JobState, int]] = defaultdict(
            lambda: {JobState.COMPLETED: 0, JobState.FAILED: 0}
        )

    def record(self, status: JobState, finished_at: str) -> None:
        minute = epoch_minute(finished_at)
        if minute is None or status not in (JobState.COMPLETED, JobState.FAILED):
            return
        self._counts[minute][status] += 1
        newest = max(self._counts)
        for old in [m for m in self._counts if m <= newest - self.window]:
            del self._counts[old]

    def buckets(self, now_minute: int) -> list[Bucket]:
        """One bucket per minute of the window ending at ``now_minute`` (zeros filled)."""
        out = []
        for minute in range(now_minute - self.window + 1, now_minute + 1):
            counts = self._counts.get(minute, {})
            out.append(
                Bucket(minute, counts.get(JobState.COMPLETED, 0), counts.get(JobState.FAILED, 0))
            )
        return out
