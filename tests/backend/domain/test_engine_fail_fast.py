"""Fail fast: a failing parent with ``failFast`` cancels its unfinished descendants."""

from __future__ import annotations

from backend.domain.engine import FlowMachine, Report, ReportType
from backend.domain.models import FailurePolicy, FlowStatus
from tests.backend.domain.test_engine import WC, A, C, F, W, X, fail, machine, run, spec, states

FAIL_PARENT = {"on_failure": FailurePolicy.FAIL_PARENT}


def start(m: FlowMachine, job_id: str) -> None:
    attempt = m.jobs[job_id].attempts_made + 1
    assert m.apply(Report(ReportType.ACTIVE, job_id, attempt, 1500, worker_id="w1"))


def test_a_child_that_fails_the_parent_cancels_running_and_queued_siblings() -> None:
    m = machine(
        spec(
            "r",
            spec("a", **FAIL_PARENT),
            spec("running"),
            spec("queued"),
            spec("done"),
            spec("sub", spec("deep")),
            fail_fast=True,
        )
    )
    run(m, "done", 1)
    start(m, "running")
    m.take_outcome()
    fail(m, "a", retryable=False)
    assert states(m) == {
        "r": F,
        "a": F,
        "running": X,
        "queued": X,
        "done": C,
        "sub": X,
        "deep": X,
    }
    outcome = m.take_outcome()
    assert outcome.cancel_running == ["running"]
    assert m.status is FlowStatus.FAILED
    assert m.jobs["queued"].finished_at == 2001


def test_without_fail_fast_the_siblings_run_on() -> None:
    m = machine(spec("r", spec("a", **FAIL_PARENT), spec("running"), spec("queued")))
    start(m, "running")
    fail(m, "a", retryable=False)
    assert states(m) == {"r": F, "a": F, "running": A, "queued": W}
    assert m.take_outcome().cancel_running == []


def test_a_failure_that_does_not_fail_the_parent_cancels_nothing() -> None:
    """Default policy: the parent waits for a retry (stuck), so its other work still counts."""
    m = machine(spec("r", spec("a"), spec("b"), fail_fast=True))
    fail(m, "a", retryable=False)
    assert states(m) == {"r": WC, "a": F, "b": W}
    assert m.stuck is not None


def test_fail_fast_acts_at_each_parent_the_failure_reaches() -> None:
    m = machine(
        spec(
            "r",
            spec("mid", spec("a", **FAIL_PARENT), spec("m2"), fail_fast=True, **FAIL_PARENT),
            spec("other", spec("o1")),
            fail_fast=True,
        )
    )
    fail(m, "a", retryable=False)
    assert states(m) == {"r": F, "mid": F, "a": F, "m2": X, "other": X, "o1": X}


def test_a_retry_of_the_failed_child_reopens_what_fail_fast_cancelled() -> None:
    m = machine(spec("r", spec("a", **FAIL_PARENT), spec("b"), fail_fast=True))
    fail(m, "a", retryable=False)
    m.retry_flow(3000)
    assert states(m) == {"r": WC, "a": W, "b": W}
    assert m.status is FlowStatus.ACTIVE


def test_late_events_of_a_cancelled_job_are_stale() -> None:
    m = machine(spec("r", spec("a", **FAIL_PARENT), spec("b"), fail_fast=True))
    start(m, "b")
    fail(m, "a", retryable=False)
    assert not m.apply(Report(ReportType.COMPLETED, "b", 1, 2500, result=1))
    assert m.jobs["b"].status is X
