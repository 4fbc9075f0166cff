"""Table-driven tests of the scheduling rules: plain calls, no I/O."""

from __future__ import annotations

import itertools

import pytest

from backend.domain.engine import (
    CHILD_FAILED,
    MAX_STALLS,
    FlowMachine,
    InvalidTransition,
    Report,
    ReportType,
)
from backend.domain.models import (
    Backoff,
    BackoffType,
    FailurePolicy,
    FlowStatus,
    JobOptions,
    JobState,
)
from backend.domain.tree import JobSpec, flatten

W, WC, D, A, C, F, X = (
    JobState.WAITING,
    JobState.WAITING_CHILDREN,
    JobState.DELAYED,
    JobState.ACTIVE,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELLED,
)


def spec(job_id: str, *children: JobSpec, **opts: object) -> JobSpec:
    return JobSpec(
        name=f"task-{job_id}",
        queue_name="jobQueue",
        opts=JobOptions(job_id=job_id, **opts),  # type: ignore[arg-type]
        children=children,
    )


def machine(root: JobSpec) -> FlowMachine:
    counter = itertools.count()
    jobs = flatten(root, "flow-1", now=1000, new_id=lambda: f"id{next(counter)}")
    return FlowMachine(FlowStatus.ACTIVE, jobs)


def states(m: FlowMachine) -> dict[str, JobState]:
    return {job_id: job.status for job_id, job in m.jobs.items()}


def run(m: FlowMachine, job_id: str, result: object = None, now: int = 2000) -> None:
    attempt = m.jobs[job_id].attempts_made + 1
    assert m.apply(Report(ReportType.ACTIVE, job_id, attempt, now, worker_id="w1"))
    assert m.apply(Report(ReportType.COMPLETED, job_id, attempt, now + 1, result=result))


def fail(m: FlowMachine, job_id: str, now: int = 2000, retryable: bool = True) -> None:
    attempt = m.jobs[job_id].attempts_made + 1
    assert m.apply(Report(ReportType.ACTIVE, job_id, attempt, now, worker_id="w1"))
    error = {"type": "ValueError", "message": "boom"}
    assert m.apply(
        Report(ReportType.FAILED, job_id, attempt, now + 1, error=error, retryable=retryable)
    )


def test_leaves_ready_parents_wait() -> None:
    m = machine(spec("r", spec("a"), spec("b", spec("b1"))))
    assert states(m) == {"r": WC, "a": W, "b": WC, "b1": W}


def test_parent_ready_only_when_all_children_complete() -> None:
    m = machine(spec("r", spec("a"), spec("b")))
    run(m, "a", 1)
    assert m.jobs["r"].status is WC
    run(m, "b", 2)
    assert m.jobs["r"].status is W
    assert m.jobs["r"].dispatched is False
    run(m, "r", 3)
    outcome = m.take_outcome()
    assert outcome.flow_status is FlowStatus.COMPLETED
    assert m.jobs["r"].result == 3


@pytest.mark.parametrize(
    ("event", "state_before", "attempt_offset", "applies"),
    [
        (ReportType.ACTIVE, W, 1, True),
        (ReportType.ACTIVE, W, 0, False),  # an older attempt
        (ReportType.ACTIVE, W, 2, False),  # from the future: not ours
        (ReportType.COMPLETED, W, 1, True),  # active event lost or batched away
        (ReportType.COMPLETED, A, 0, True),
        (ReportType.COMPLETED, A, -1, False),
        (ReportType.COMPLETED, C, 0, False),  # duplicate delivery after completion
        (ReportType.FAILED, C, 0, False),
        (ReportType.PROGRESS, A, 0, True),
        (ReportType.PROGRESS, C, 0, False),
        (ReportType.ACTIVE, X, 1, False),
    ],
)
def test_event_table(
    event: ReportType, state_before: JobState, attempt_offset: int, applies: bool
) -> None:
    m = machine(spec("r", spec("a")))
    if state_before is A:
        m.apply(Report(ReportType.ACTIVE, "a", 1, 1))
    elif state_before is C:
        run(m, "a")
    elif state_before is X:
        m.cancel(1)
    m.take_outcome()
    attempt = m.jobs["a"].attempts_made + attempt_offset
    assert m.apply(Report(event, "a", attempt, 5, result=1, progress=50)) is applies
    assert bool(m.take_outcome().patches) is applies


def test_duplicate_completion_recorded_once() -> None:
    m = machine(spec("r", spec("a")))
    run(m, "a", "first")
    assert not m.apply(Report(ReportType.COMPLETED, "a", 1, 9, result="second"))
    assert m.jobs["a"].result == "first"


@pytest.mark.parametrize(
    ("backoff", "expected_waits"),
    [
        (None, [0, 0]),
        (Backoff(BackoffType.FIXED, 100), [100, 100]),
        (Backoff(BackoffType.EXPONENTIAL, 100), [100, 200]),
    ],
)
def test_retries_with_backoff(backoff: Backoff | None, expected_waits: list[int]) -> None:
    m = machine(spec("r", spec("a", attempts=3, backoff=backoff)))
    for wait in expected_waits:
        fail(m, "a", now=1000)
        job = m.jobs["a"]
        assert job.status is (D if wait else W)
        assert job.run_at == (1001 + wait if wait else None)
        assert job.dispatched is False
    fail(m, "a")
    assert m.jobs["a"].status is F
    assert m.jobs["a"].attempts_made == 3


def test_jitter_uses_injected_randomness() -> None:
    jobs = flatten(
        spec("r", spec("a", attempts=2, backoff=Backoff(BackoffType.FIXED, 1000, jitter=0.5))),
        "f",
        0,
        iter(map(str, range(100))).__next__,
    )
    m = FlowMachine(FlowStatus.ACTIVE, jobs, rand=lambda: 1.0)
    fail(m, "a", now=0)
    assert m.jobs["a"].run_at == 1 + 500


def test_not_retryable_fails_at_once() -> None:
    m = machine(spec("r", spec("a", attempts=5)))
    fail(m, "a", retryable=False)
    assert m.jobs["a"].status is F


@pytest.mark.parametrize(
    ("policy", "parent_state", "flow_status", "stuck"),
    [
        (FailurePolicy.WAIT, WC, FlowStatus.ACTIVE, True),
        (FailurePolicy.FAIL_PARENT, F, FlowStatus.FAILED, False),
        (FailurePolicy.IGNORE, W, FlowStatus.ACTIVE, False),
        (FailurePolicy.REMOVE, W, FlowStatus.ACTIVE, False),
        (FailurePolicy.CONTINUE, W, FlowStatus.ACTIVE, False),
    ],
)
def test_failure_policies_with_sibling_done(
    policy: FailurePolicy, parent_state: JobState, flow_status: FlowStatus, stuck: bool
) -> None:
    m = machine(spec("r", spec("a", on_failure=policy), spec("b")))
    run(m, "b")
    fail(m, "a")
    assert m.jobs["r"].status is parent_state
    assert m.status is flow_status
    assert (m.stuck is not None) is stuck
    if stuck:
        assert m.stuck is not None
        assert m.stuck.job_id == "a"
        assert "boom" in m.stuck.reason


def test_continue_starts_parent_before_siblings_finish() -> None:
    m = machine(spec("r", spec("a", on_failure=FailurePolicy.CONTINUE), spec("b")))
    fail(m, "a")
    assert m.jobs["r"].status is W
    assert m.jobs["b"].status is W


def test_ignore_waits_for_running_siblings() -> None:
    m = machine(spec("r", spec("a", on_failure=FailurePolicy.IGNORE), spec("b")))
    fail(m, "a")
    assert m.jobs["r"].status is WC
    run(m, "b")
    assert m.jobs["r"].status is W


def test_fail_parent_propagates_by_each_parents_policy() -> None:
    m = machine(
        spec(
            "r",
            spec(
                "p",
                spec("a", on_failure=FailurePolicy.FAIL_PARENT),
                on_failure=FailurePolicy.FAIL_PARENT,
            ),
        )
    )
    fail(m, "a")
    assert m.jobs["p"].status is F
    assert m.jobs["p"].error["type"] == CHILD_FAILED
    assert m.jobs["r"].status is F
    assert m.status is FlowStatus.FAILED


def test_retry_of_stuck_child_lets_parent_continue() -> None:
    m = machine(spec("r", spec("a"), spec("b")))
    run(m, "b")
    fail(m, "a")
    assert m.stuck is not None
    m.retry_job("a", 5000)
    assert m.jobs["a"].status is W
    assert m.stuck is None
    run(m, "a")
    assert m.jobs["r"].status is W


def test_retry_gives_fresh_budget() -> None:
    m = machine(spec("r", spec("a", attempts=2)))
    fail(m, "a")
    fail(m, "a")
    assert m.jobs["a"].status is F
    m.retry_job("a", 0)
    fail(m, "a")
    assert m.jobs["a"].status is W  # attempt 3 is the first of the new budget of 2
    fail(m, "a")
    assert m.jobs["a"].status is F
    assert m.jobs["a"].attempts_made == 4


def test_retry_of_child_reopens_parent_failed_by_it() -> None:
    m = machine(spec("r", spec("a", on_failure=FailurePolicy.FAIL_PARENT)))
    fail(m, "a")
    assert m.status is FlowStatus.FAILED
    assert m.retry_flow(0) == 1
    assert states(m) == {"r": WC, "a": W}
    assert m.status is FlowStatus.ACTIVE
    run(m, "a")
    run(m, "r")
    assert m.status is FlowStatus.COMPLETED


@pytest.mark.parametrize("state", [W, WC, A, C])
def test_retry_refused_unless_failed_or_cancelled(state: JobState) -> None:
    m = machine(spec("r", spec("a", spec("a1"))))
    if state is A:
        m.apply(Report(ReportType.ACTIVE, "a1", 1, 1))
    if state is C:
        run(m, "a1")
    target = "a" if state is WC else "a1"
    with pytest.raises(InvalidTransition):
        m.retry_job(target, 0)


def test_cancel_stops_everything_and_ignores_late_results() -> None:
    m = machine(spec("r", spec("a"), spec("b")))
    m.apply(Report(ReportType.ACTIVE, "a", 1, 1, worker_id="w"))
    m.take_outcome()
    m.cancel(10)
    outcome = m.take_outcome()
    assert outcome.cancel_running == ["a"]
    assert set(states(m).values()) == {X}
    assert m.status is FlowStatus.CANCELLED
    assert not m.apply(Report(ReportType.COMPLETED, "a", 1, 11, result=1))
    with pytest.raises(InvalidTransition):
        m.cancel(12)


def test_retry_after_cancel_runs_to_completion() -> None:
    m = machine(spec("r", spec("p", spec("a"), spec("b")), spec("c")))
    run(m, "a")
    m.cancel(10)
    m.retry_flow(20)
    assert states(m) == {"r": WC, "p": WC, "a": C, "b": W, "c": W}
    run(m, "b")
    run(m, "c")
    run(m, "p")
    run(m, "r")
    assert m.status is FlowStatus.COMPLETED


def test_stall_counts_as_attempt_without_spending_budget() -> None:
    m = machine(spec("r", spec("a")))  # attempts=1
    for attempt in range(1, MAX_STALLS + 1):
        m.apply(Report(ReportType.ACTIVE, "a", attempt, 1, worker_id="dead"))
        assert m.stall("a", 100)
        job = m.jobs["a"]
        assert job.status is W
        assert job.error["type"] == "Stalled"
        assert job.attempts_made == attempt
        assert job.stalls == attempt
        # the dead worker's late completion of this attempt is stale now
        assert not m.apply(Report(ReportType.COMPLETED, "a", attempt, 101))
    m.apply(Report(ReportType.ACTIVE, "a", MAX_STALLS + 1, 1, worker_id="dead"))
    assert m.stall("a", 200)
    assert m.jobs["a"].status is F


def test_stall_of_a_job_that_is_not_running_is_ignored() -> None:
    m = machine(spec("r", spec("a")))
    assert not m.stall("a", 1)
    assert not m.stall("r", 1)


def test_delay_makes_parent_delayed_when_ready() -> None:
    m = machine(spec("r", spec("a"), delay=500))
    run(m, "a", now=1000)
    assert m.jobs["r"].status is D
    assert m.jobs["r"].run_at == 1001 + 500


def test_fail_now_for_unknown_task() -> None:
    m = machine(spec("r", spec("a", attempts=3)))
    assert m.fail_now("a", {"type": "UnknownTask", "message": "no worker"}, 5)
    assert m.jobs["a"].status is F
    assert m.stuck is not None


def test_requeue_after_redis_loss_keeps_budget_and_stales_old_attempt() -> None:
    m = machine(spec("r", spec("a"), spec("b")))
    m.apply(Report(ReportType.ACTIVE, "a", 1, 1, worker_id="w"))
    m.jobs["b"] = m.jobs["b"].__class__(**{**m.jobs["b"].__dict__, "dispatched": True})
    assert m.requeue_lost("a")
    assert m.requeue_lost("b")
    assert not m.requeue_lost("r")
    assert m.jobs["a"].status is W
    assert not m.apply(Report(ReportType.COMPLETED, "a", 1, 2))  # the old copy's result
    fail(m, "a")  # attempt 2 is the first of its budget of 1 after the requeue
    assert m.jobs["a"].status is F
    assert m.jobs["a"].attempts_made == 2


def test_counts_follow_every_change() -> None:
    m = machine(spec("r", spec("a"), spec("b")))
    run(m, "a")
    fail(m, "b")
    assert +m.counts == {"waiting-children": 1, "completed": 1, "failed": 1}


def test_stuck_moves_on_when_the_waiting_parent_fails_and_is_ignored() -> None:
    # j2 fails (default policy): the flow is stuck on it. Then j3 fails its
    # parent j1, whose failure the root ignores: nothing waits on j2 any more,
    # and the root only waits for j4, which is still running. Not stuck.
    m = machine(
        spec(
            "r",
            spec(
                "j1",
                spec("j2"),
                spec("j3", on_failure=FailurePolicy.FAIL_PARENT),
                on_failure=FailurePolicy.IGNORE,
            ),
            spec("j4"),
        )
    )
    fail(m, "j2")
    assert m.stuck is not None
    assert m.stuck.job_id == "j2"
    fail(m, "j3")
    assert m.jobs["j1"].status is F
    assert m.stuck is None
    run(m, "j4")
    assert m.jobs["r"].status is W


def test_a_job_no_worker_can_run_fails_even_after_the_root_failed() -> None:
    m = machine(
        spec(
            "r",
            spec("bad", on_failure=FailurePolicy.FAIL_PARENT),
            spec("orphan"),
        )
    )
    fail(m, "bad")
    assert m.status is FlowStatus.FAILED
    assert m.fail_now("orphan", {"type": "UnknownTask", "message": "x"}, 9)
    assert m.jobs["orphan"].status is F


def test_fail_now_leaves_a_cancelled_flow_alone() -> None:
    m = machine(spec("r", spec("a")))
    m.cancel(1)
    m.retry_job("a", 2)  # reopened: waiting again, the flow active
    m.cancel(3)
    assert not m.fail_now("a", {"type": "UnknownTask", "message": "x"}, 4)


@pytest.mark.parametrize(
    ("end", "state"),
    [
        ("completed", C),
        ("failed", F),  # final: no attempts left
        ("retried", W),  # failed with attempts left: waits for its next attempt
        ("cancelled", X),
        ("stalled", W),
    ],
)
def test_a_job_keeps_the_worker_of_its_latest_attempt(end: str, state: JobState) -> None:
    m = machine(spec("r", spec("a", attempts=2 if end == "retried" else 1)))
    m.apply(Report(ReportType.ACTIVE, "a", 1, 1, worker_id="w1"))
    error = {"type": "ValueError", "message": "boom"}
    if end == "completed":
        m.apply(Report(ReportType.COMPLETED, "a", 1, 2, result=1))
    elif end in {"failed", "retried"}:
        m.apply(Report(ReportType.FAILED, "a", 1, 2, error=error))
    elif end == "cancelled":
        m.cancel(2)
    else:
        m.stall("a", 2)
    assert (m.jobs["a"].status, m.jobs["a"].worker_id) == (state, "w1")
    if state is W:  # the next attempt runs elsewhere: that worker is named
        m.apply(Report(ReportType.ACTIVE, "a", 2, 3, worker_id="w2"))
        m.apply(Report(ReportType.COMPLETED, "a", 2, 4, result=1))
        assert m.jobs["a"].worker_id == "w2"
    assert m.jobs["r"].worker_id is None  # never started
