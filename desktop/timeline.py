"""A flow's timeline as data: one bar per job, its lanes, and the critical path.

Theory of operation. A job's bar runs from ``startedAt`` to ``finishedAt``
(to "now" while it runs). Before it, the time the job was ready but not yet
running is shaded: a leaf is ready when it was created, a parent when its
last child finished (it cannot start before). Bars are grouped into lanes,
by depth in the tree, by queue, or by the worker the job's latest attempt
ran on (``workerId``; jobs that never started share a last lane), and
ordered by start inside a lane.

The *critical path* is the chain of jobs that decided when the root
finished: a parent starts once its last child finishes, so from the root
the path follows, at every level, the child that finished last (a child
still running counts as finishing now, since it is what the parent waits
for), down to a leaf. Shortening any job off that chain would not have
made the flow finish sooner.

Times are epoch milliseconds, parsed once from the wire's ISO 8601 strings.
Nothing here imports Qt or does I/O, so it is tested with plain tables.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple, TypeVar

from backend.schemas import FlowJobResponse

T = TypeVar("T")


@lru_cache(maxsize=1 << 17)
def millis(iso: str | None) -> int | None:
    """An ISO 8601 time as epoch milliseconds; None for None or a malformed time.

    Cached: a job's times do not change once set, and the timeline is
    recomputed from the same strings while a flow runs.
    """
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None


def duration_text(ms: int) -> str:
    """A duration for people: ``850 ms``, ``2.35 s``, ``3 min 07 s``; "" if negative."""
    if ms < 0:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes} min {seconds:02d} s"


class Bar(NamedTuple):
    """One job's bar: a named tuple of plain values, lighter than a dataclass
    instance for the 20,000 bars made again every second while a flow runs."""

    job_id: str
    name: str
    queue: str
    worker: str | None  # the worker of its latest attempt; None if it never started
    status: str  # the JobState's value
    finished: bool  # completed, failed or cancelled
    depth: int
    ready: int | None  # when it could have started (the shaded wait begins)
    start: int | None  # None: never started
    end: int | None  # finished, or "now" while it runs; None if it never started


class LaneBy(StrEnum):
    """How bars are grouped into lanes (the value is what the lane menu says)."""

    DEPTH = "by depth"
    QUEUE = "by queue"
    WORKER = "by worker"


NO_WORKER = "not started"  # the worker lane of jobs that never ran


@dataclass(frozen=True)
class Lane:
    label: str
    bars: tuple[Bar, ...]


def _depths(root: str, jobs: Mapping[str, FlowJobResponse]) -> dict[str, int]:
    depth = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        for child in jobs[node].children:
            if child in jobs and child not in depth:
                depth[child] = depth[node] + 1
                stack.append(child)
    return depth


def _run(steps: Generator[None, None, T]) -> T:
    """Drive a computation written as steps to its end, at once."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def bars(root: str, jobs: Mapping[str, FlowJobResponse], now: int) -> list[Bar]:
    """Every job of the tree under ``root`` as a bar, shallow first."""
    return _run(_bar_steps(root, jobs, now, chunk=1 << 62))


def _bar_steps(
    root: str, jobs: Mapping[str, FlowJobResponse], now: int, chunk: int
) -> Generator[None, None, list[Bar]]:
    if root not in jobs:
        return []
    depth = _depths(root, jobs)
    yield
    finished = {j: millis(job.finished_at) for j, job in jobs.items()}
    yield
    out: list[Bar] = []
    for i, (job_id, d) in enumerate(sorted(depth.items(), key=lambda kv: kv[1])):
        if i % chunk == chunk - 1:
            yield
        job = jobs[job_id]
        start = millis(job.started_at)
        end = finished[job_id] if job.status.finished else (now if start is not None else None)
        kids = [finished[c] for c in job.children if c in jobs]
        if kids:
            done = [k for k in kids if k is not None]
            ready = max(done) if len(done) == len(kids) else None
        else:
            ready = millis(job.created_at)
        if start is not None and ready is not None:
            ready = min(ready, start)
        state = job.status
        out.append(
            Bar(
                job_id, job.name, job.queue_name, job.worker_id, state.value, state.finished, d,
                ready, start, end,
            )
        )  # fmt: skip
    return out


def _lane_key(bar: Bar, by: LaneBy) -> tuple[int, int | str]:
    """Where a bar's lane sorts: by depth, by queue name, by worker id (never run last)."""
    if by is LaneBy.DEPTH:
        return 0, bar.depth
    if by is LaneBy.QUEUE:
        return 0, bar.queue
    return (1, "") if bar.worker is None else (0, bar.worker)


def _lane_label(key: int | str, by: LaneBy) -> str:
    if by is LaneBy.DEPTH:
        return f"depth {key}"
    return str(key) or NO_WORKER


def lanes(all_bars: Sequence[Bar], by: LaneBy, first: AbstractSet[str] = frozenset()) -> list[Lane]:
    """Bars grouped by depth (shallow first), queue or worker (by name), by start in a lane.

    Bars of jobs in ``first`` (the critical path) lead their lane, so the
    chain that decided the end is in view without scrolling.
    """
    grouped: dict[tuple[int, int | str], list[Bar]] = {}
    for bar in all_bars:
        grouped.setdefault(_lane_key(bar, by), []).append(bar)
    never = 2**63
    out = []
    for key in sorted(grouped):
        ordered = sorted(
            grouped[key],
            key=lambda b: (b.job_id not in first, b.start if b.start is not None else never),
        )
        out.append(Lane(_lane_label(key[1], by), tuple(ordered)))
    return out


def critical_path(root: str, jobs: Mapping[str, FlowJobResponse], now: int) -> list[str]:
    """The chain from the root down that decided when the root finished (root first)."""
    if root not in jobs:
        return []

    def finish(job_id: str) -> int:
        job = jobs[job_id]
        at = millis(job.finished_at) if job.status.finished else None
        return now if at is None else at

    path = [root]
    node = root
    while kids := [c for c in jobs[node].children if c in jobs]:
        node = max(kids, key=finish)  # the first of equals: request order
        path.append(node)
    return path


def span(all_bars: Sequence[Bar]) -> tuple[int, int] | None:
    """The earliest and latest time any bar shows, or None if nothing ever started."""
    starts = [b.ready if b.ready is not None else b.start for b in all_bars if b.start is not None]
    ends = [b.end for b in all_bars if b.end is not None]
    starts = [s for s in starts if s is not None]
    if not starts or not ends:
        return None
    return min(starts), max(ends)


@dataclass(frozen=True)
class Timeline:
    """Everything the timeline view draws, computed in one go (off the UI thread)."""

    rows: tuple[Bar | str, ...]  # each lane's label, then its bars
    row_of: Mapping[str, int]  # job id -> its row
    critical: tuple[str, ...]  # the critical path, root first
    window: tuple[int, int] | None  # the time span shown; None if nothing ran
    running: bool  # some bar grows with the clock


EMPTY = Timeline((), {}, (), None, False)


CHUNK = 2000  # jobs per step of compute_steps: a few milliseconds each


def compute(root: str, jobs: Mapping[str, FlowJobResponse], by: LaneBy, now: int) -> Timeline:
    """The whole timeline of the tree under ``root`` at ``now``."""
    return _run(compute_steps(root, jobs, by, now))


def compute_steps(
    root: str, jobs: Mapping[str, FlowJobResponse], by: LaneBy, now: int, chunk: int = CHUNK
) -> Generator[None, None, Timeline]:
    """:func:`compute` in steps of about ``chunk`` jobs: a caller on an event loop
    can let other work run between two steps (``next()`` until ``StopIteration``,
    whose value is the timeline)."""
    all_bars = yield from _bar_steps(root, jobs, now, chunk)
    critical = tuple(critical_path(root, jobs, now))
    yield
    rows: list[Bar | str] = []
    for lane in lanes(all_bars, by, first=frozenset(critical)):
        rows.append(f"{lane.label}  ({len(lane.bars)})")
        rows.extend(lane.bars)
    yield
    row_of = {r.job_id: i for i, r in enumerate(rows) if isinstance(r, Bar)}
    yield
    return Timeline(
        rows=tuple(rows),
        row_of=row_of,
        critical=critical,
        window=span(all_bars),
        running=any(b.start is not None and not b.finished for b in all_bars),
    )
