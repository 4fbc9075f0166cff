"""Per-task statistics as a pure computation: nearest-rank percentiles and failure rates."""

from __future__ import annotations

import pytest

from backend.domain.stats import Outcome, TaskStats, nearest_rank, task_stats


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.5, None),
        ([7], 0.5, 7),
        ([7], 0.95, 7),
        ([1, 2], 0.5, 1),
        ([1, 2, 3, 4], 0.5, 2),
        ([1, 2, 3, 4], 0.95, 4),
        (list(range(1, 101)), 0.5, 50),
        (list(range(1, 101)), 0.95, 95),
        (list(range(1, 21)), 0.95, 19),
    ],
)
def test_nearest_rank(values: list[int], q: float, expected: int | None) -> None:
    assert nearest_rank(values, q) == expected


def test_task_stats_groups_by_name_and_counts_failures() -> None:
    outcomes = [
        Outcome("sleep", False, 300),
        Outcome("echo", False, 5),
        Outcome("sleep", True, 100),
        Outcome("sleep", False, 200),
        Outcome("sum", True, None),  # failed by its child, never started
    ]
    assert task_stats(outcomes) == [
        TaskStats("echo", completed=1, failed=0, p50_ms=5, p95_ms=5),
        TaskStats("sleep", completed=2, failed=1, p50_ms=200, p95_ms=300),
        TaskStats("sum", completed=0, failed=1, p50_ms=None, p95_ms=None),
    ]
    rates = {s.name: s.failure_rate for s in task_stats(outcomes)}
    assert rates == {"echo": 0.0, "sleep": pytest.approx(1 / 3), "sum": 1.0}
    assert task_stats([]) == []
