"""The timeline as data: bars with their waits, lanes, and the critical path."""

from __future__ import annotations

import pytest
from jobkit import make_job

from backend.schemas import FlowJobResponse, JobState
from desktop.timeline import (
    NO_WORKER,
    LaneBy,
    bars,
    compute,
    compute_steps,
    critical_path,
    duration_text,
    lanes,
    millis,
    span,
)
from desktop.views.timeline_view import tooltip

DONE = JobState.COMPLETED
T0 = millis("2026-01-01T00:00:00.000+00:00")
assert T0 is not None
NOW = T0 + 600_000

# r <- a (<- a1, a2), b, c (<- c1). a2 finishes last under a, a after b and c.
#   a1: 0..2   a2: 0..5   a: 6..7   b: 0..3   c1: 1..4   c: 4.5..6   r: 7.5..8
KNOWN = {
    "r": make_job("r", None, ["a", "b", "c"], status=DONE, started=7.5, finished=8),
    "a": make_job("a", "r", ["a1", "a2"], status=DONE, started=6, finished=7, worker="w-1"),
    "a1": make_job("a1", "a", status=DONE, started=0, finished=2),
    "a2": make_job("a2", "a", status=DONE, started=0, finished=5),
    "b": make_job("b", "r", status=DONE, started=0, finished=3),
    "c": make_job("c", "r", ["c1"], status=DONE, started=4.5, finished=6),
    "c1": make_job("c1", "c", status=DONE, started=1, finished=4),
}


def s(seconds: float) -> int:
    return T0 + round(seconds * 1000)


def test_critical_path_of_a_known_flow_follows_the_last_child_to_finish() -> None:
    assert critical_path("r", KNOWN, NOW) == ["r", "a", "a2"]


@pytest.mark.parametrize(
    ("jobs", "path"),
    [
        ({"r": make_job("r")}, ["r"]),
        # a running child is what the parent waits for: it "finishes" now
        (
            {
                "r": make_job("r", None, ["x", "y"], status=JobState.WAITING_CHILDREN),
                "x": make_job("x", "r", status=DONE, started=0, finished=9),
                "y": make_job("y", "r", status=JobState.ACTIVE, started=1),
            },
            ["r", "y"],
        ),
        # equal finishes: the first in request order
        (
            {
                "r": make_job("r", None, ["x", "y"], status=DONE, started=3, finished=4),
                "x": make_job("x", "r", status=DONE, started=0, finished=2),
                "y": make_job("y", "r", status=DONE, started=1, finished=2),
            },
            ["r", "x"],
        ),
    ],
)
def test_critical_path_table(jobs: dict[str, FlowJobResponse], path: list[str]) -> None:
    assert critical_path("r", jobs, NOW) == path


def test_bars_wait_from_ready_and_run_to_finish() -> None:
    by_id = {b.job_id: b for b in bars("r", KNOWN, NOW)}
    assert (by_id["a"].ready, by_id["a"].start, by_id["a"].end) == (s(5), s(6), s(7))
    assert by_id["r"].ready == s(7)  # its last child, a, finished at 7
    assert (by_id["a1"].ready, by_id["a1"].depth) == (s(0), 2)
    assert span(list(by_id.values())) == (s(0), s(8))


def test_ready_is_the_last_child_and_running_bars_end_now() -> None:
    jobs = {
        "r": make_job("r", None, ["x"], status=JobState.ACTIVE, started=5),
        "x": make_job("x", "r", status=DONE, started=1, finished=4),
    }
    root = next(b for b in bars("r", jobs, NOW) if b.job_id == "r")
    assert (root.ready, root.start, root.end) == (s(4), s(5), NOW)
    never = bars("r", {"r": make_job("r")}, NOW)[0]
    assert (never.start, never.end) == (None, None)


def test_lanes_by_depth_and_by_queue_order_bars_by_start() -> None:
    by_depth = lanes(bars("r", KNOWN, NOW), LaneBy.DEPTH)
    assert [lane.label for lane in by_depth] == ["depth 0", "depth 1", "depth 2"]
    assert [b.job_id for b in by_depth[1].bars] == ["b", "c", "a"]
    assert [b.job_id for b in by_depth[2].bars] == ["a1", "a2", "c1"]
    by_queue = lanes(bars("r", KNOWN, NOW), LaneBy.QUEUE)
    assert [lane.label for lane in by_queue] == ["jobQueue"]
    assert len(by_queue[0].bars) == 7


def test_lanes_by_worker_group_jobs_by_the_worker_that_ran_them_never_run_last() -> None:
    jobs = {
        "r": make_job("r", None, ["x", "y", "z", "n"], status=JobState.WAITING_CHILDREN),
        "x": make_job("x", "r", status=DONE, started=3, finished=4, worker="w-b"),
        "y": make_job("y", "r", status=DONE, started=1, finished=2, worker="w-a"),
        "z": make_job("z", "r", status=JobState.FAILED, started=0, finished=1, worker="w-b"),
        "n": make_job("n", "r"),
    }
    by_worker = lanes(bars("r", jobs, NOW), LaneBy.WORKER)
    assert [(lane.label, [b.job_id for b in lane.bars]) for lane in by_worker] == [
        ("w-a", ["y"]),
        ("w-b", ["z", "x"]),
        (NO_WORKER, ["r", "n"]),
    ]
    timeline = compute("r", jobs, LaneBy.WORKER, NOW)
    assert timeline.rows[0] == "w-a  (1)"
    assert timeline.row_of["y"] == 1


def test_the_stepped_computation_gives_the_same_timeline_and_yields_between_chunks() -> None:
    jobs = {
        "r": make_job("r", None, [f"l{i}" for i in range(50)], status=JobState.ACTIVE, started=9)
    }
    for i in range(50):
        jobs[f"l{i}"] = make_job(f"l{i}", "r", status=DONE, started=i / 10, finished=i / 10 + 1)
    steps = compute_steps("r", jobs, LaneBy.DEPTH, NOW, chunk=10)
    pauses = 0
    while True:
        try:
            next(steps)
            pauses += 1
        except StopIteration as done:
            stepped = done.value
            break
    assert pauses >= 5  # 51 bars in chunks of 10, and the stages after them
    assert stepped == compute("r", jobs, LaneBy.DEPTH, NOW)
    assert stepped.critical == ("r", "l49")
    assert stepped.running
    assert stepped.rows[0] == "depth 0  (1)"
    assert stepped.row_of["l49"] == 3  # "depth 0", r, "depth 1", then the critical path
    assert stepped.row_of["l0"] == 4  # then by start


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (-1, ""),
        (0, "0 ms"),
        (999, "999 ms"),
        (1000, "1.00 s"),
        (59_990, "59.99 s"),
        (187_000, "3 min 07 s"),
    ],
)
def test_duration_text(ms: int, text: str) -> None:
    assert duration_text(ms) == text


def test_a_bar_tooltip_names_the_job_its_wait_run_and_the_critical_path() -> None:
    bar = next(b for b in bars("r", KNOWN, NOW) if b.job_id == "a")
    assert tooltip(bar, critical=True).splitlines() == [
        "task-a (a)",
        "completed",
        "waited 1.00 s",
        "ran 1.00 s",
        "on worker w-1",
        "on the critical path",
    ]
