"""Overlap of task runs, from their own start and end times (e2e tests and the soak)."""

from __future__ import annotations

from collections.abc import Iterable


def max_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """The most spans open at one instant (an end before a start at the same time)."""
    listed = list(spans)
    edges = sorted([(start, 1) for start, _end in listed] + [(end, -1) for _start, end in listed])
    open_now = peak = 0
    for _time, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak
