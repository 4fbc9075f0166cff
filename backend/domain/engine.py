"""The flow scheduling rules: a pure state machine over one flow's jobs.

Theory of operation
-------------------
A flow is a tree. Leaves start ready; a parent waits in ``waiting-children``
until every child is *resolved* (completed, or finally failed with a policy
that lets the parent go on), then becomes ready and runs with its children's
values. Two kinds of input move jobs:

* **worker events** (``active``, ``progress``, ``completed``, ``failed``), each
  keyed by ``(job_id, attempt)``. Delivery is at-least-once, so an event for
  another attempt than the job's current one, or for a job in a state the
  table below does not list, is *stale* and ignored: that is what makes
  recording exactly-once.
* **operator commands** (retry a job, retry a flow, cancel a flow) and the
  backend's own findings (a stalled worker, an unknown task). A command that
  the table does not allow raises :class:`InvalidTransition`.

Transition table for worker events (state -> event -> new state)::

    waiting / delayed --active-->    active
    waiting / delayed / active --completed--> completed   (+ parent may become ready)
    waiting / delayed / active --failed-->    delayed/waiting (attempts left, retryable)
                                              failed          (final; parent per policy)
    active --progress--> active

A child's *final* failure acts on its parent by the child's policy
(``JobOptions.on_failure``):

* ``wait`` (default): the parent stays in ``waiting-children``; the flow is
  **stuck** on that child until an operator retries it.
* ``failParentOnFailure``: the parent fails with a ``ChildFailed`` error, and
  its own policy then acts on *its* parent.
* ``ignoreDependencyOnFailure``: the child counts as resolved; its error is
  passed to the parent as an ignored failure.
* ``removeDependencyOnFailure``: the child counts as resolved and is left out.
* ``continueParentOnFailure``: the parent becomes ready at once.

A parent with ``failFast`` (its own option, or the flow's default) that
fails, by its own attempt or because a child failed it, cancels its
unfinished descendants: queued ones are cancelled and never sent, running
ones are cancelled and asked to stop (``Outcome.cancel_running``), instead
of running on for a parent that can no longer use them. A retry of the
parent reopens them, as after a flow cancel.

A job's ``worker_id`` is set when an attempt starts (``active``) and kept
afterwards, whatever ends the attempt: it names where the job last ran. The
monitor looks for dead workers among *active* jobs only, so a finished or
requeued job's worker is history, never a liveness claim.

The machine works on an in-memory copy of the flow's jobs (the store loads
them once per batch of events) and records which fields of which jobs it
changed; the store writes exactly those. Time and randomness come in as
arguments, so every decision is reproducible.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from backend.domain.events import (
    CHILD_FAILED,
    MAX_STALLS,
    STALLED,
    InvalidTransition,
    Outcome,
    Report,
    ReportType,
    backoff_ms,
)
from backend.domain.models import JSON, FailurePolicy, FlowStatus, Job, JobState, StuckInfo

__all__ = [
    "CHILD_FAILED",
    "MAX_STALLS",
    "STALLED",
    "FlowMachine",
    "InvalidTransition",
    "Outcome",
    "Report",
    "ReportType",
    "backoff_ms",
]

_RESOLVING_POLICIES = frozenset({FailurePolicy.IGNORE, FailurePolicy.REMOVE})
_RUNNABLE = frozenset({JobState.WAITING, JobState.DELAYED})
_EVENT_TARGETS: dict[str, frozenset[JobState]] = {
    "active": _RUNNABLE | {JobState.ACTIVE},
    "progress": _RUNNABLE | {JobState.ACTIVE},
    "completed": _RUNNABLE | {JobState.ACTIVE},
    "failed": _RUNNABLE | {JobState.ACTIVE},
}


class FlowMachine:
    """Applies events and commands to one flow's jobs, recording every change."""

    def __init__(
        self,
        status: FlowStatus,
        jobs: Iterable[Job],
        stuck: StuckInfo | None = None,
        rand: Callable[[], float] = lambda: 0.5,
    ) -> None:
        self.status = status
        self.stuck = stuck
        self.jobs: dict[str, Job] = {job.job_id: job for job in jobs}
        self.counts: Counter[str] = Counter(job.status.value for job in self.jobs.values())
        # parent job_id -> children not yet resolved; filled lazily, kept current by _set,
        # so a completion is O(1) rather than a scan of all its siblings.
        self._unresolved: dict[str, int] = {}
        self.outcome = Outcome()
        self._rand = rand
        roots = [job for job in self.jobs.values() if job.parent_id is None]
        self.root_id = roots[0].job_id if roots else None

    # -- bookkeeping -------------------------------------------------------------

    def _set(self, job_id: str, *, record: bool = True, **changes: Any) -> Job:
        old = self.jobs[job_id]
        job = dataclasses.replace(old, **changes)
        if job.status is not old.status:
            self.counts[old.status.value] -= 1
            self.counts[job.status.value] += 1
            parent = job.parent_id
            if parent is not None and parent in self._unresolved:
                self._unresolved[parent] += _resolved(old) - _resolved(job)
        self.jobs[job_id] = job
        if record:
            self.outcome.patches.setdefault(job_id, {}).update(changes)
        return job

    def _set_flow(self, status: FlowStatus, now: int) -> None:
        if status is self.status:
            return
        self.status = status
        self.outcome.flow_status = status
        self.outcome.flow_finished_at = None if status is FlowStatus.ACTIVE else now

    def _set_stuck(self, stuck: StuckInfo | None) -> None:
        if stuck != self.stuck:
            self.stuck = stuck
            self.outcome.stuck_changed = True
            self.outcome.stuck = stuck

    def take_outcome(self) -> Outcome:
        outcome, self.outcome = self.outcome, Outcome()
        return outcome

    # -- worker events -----------------------------------------------------------

    def apply(self, event: Report) -> bool:
        """Apply one worker event; returns False when it was stale."""
        job = self.jobs.get(event.job_id)
        if job is None or not self._is_current(job, event):
            self.outcome.stale += 1
            return False
        handler = {
            ReportType.ACTIVE: self._on_active,
            ReportType.PROGRESS: self._on_progress,
            ReportType.COMPLETED: self._on_completed,
            ReportType.FAILED: self._on_failed,
        }[event.type]
        handler(job, event)
        self.outcome.applied += 1
        return True

    def _is_current(self, job: Job, event: Report) -> bool:
        if self.status is FlowStatus.CANCELLED or job.status not in _EVENT_TARGETS[event.type]:
            return False
        if job.status is JobState.ACTIVE:
            return event.attempt == job.attempts_made
        return event.attempt == job.attempts_made + 1

    def _on_active(self, job: Job, event: Report) -> None:
        self._set(
            job.job_id,
            status=JobState.ACTIVE,
            attempts_made=event.attempt,
            started_at=event.time if job.status is not JobState.ACTIVE else job.started_at,
            worker_id=event.worker_id,
            run_at=None,
        )

    def _on_progress(self, job: Job, event: Report) -> None:
        self._set(job.job_id, progress=event.progress)

    def _on_completed(self, job: Job, event: Report) -> None:
        self._set(
            job.job_id,
            status=JobState.COMPLETED,
            attempts_made=event.attempt,
            result=event.result,
            error=None,
            finished_at=event.time,
            started_at=job.started_at or event.time,
            run_at=None,
        )
        self._after_resolved(job.job_id, event.time)

    def _on_failed(self, job: Job, event: Report) -> None:
        in_budget = event.attempt - job.retry_base
        if event.retryable and in_budget < job.opts.attempts:
            wait = backoff_ms(job, in_budget, self._rand)
            self._set(
                job.job_id,
                status=JobState.DELAYED if wait else JobState.WAITING,
                attempts_made=event.attempt,
                error=event.error,
                run_at=event.time + wait if wait else None,
                dispatched=False,
            )
            return
        self._final_failure(job.job_id, event.error, event.time, attempt=event.attempt)

    # -- resolution and failure propagation -------------------------------------

    def _final_failure(
        self, job_id: str, error: JSON, now: int, attempt: int | None = None
    ) -> None:
        job = self.jobs[job_id]
        self._set(
            job_id,
            status=JobState.FAILED,
            attempts_made=job.attempts_made if attempt is None else attempt,
            error=error,
            finished_at=now,
            started_at=job.started_at or (now if attempt is not None else None),
            run_at=None,
            dispatched=False,
        )
        if job.opts.fail_fast and job.children:
            self._cancel_descendants(job_id, now)
        if job.parent_id is None:
            self._set_flow(FlowStatus.FAILED, now)
            self._set_stuck(None)
            return
        parent = self.jobs[job.parent_id]
        if parent.status is not JobState.WAITING_CHILDREN:
            return  # parent already started (continueParentOnFailure) or finished
        policy = job.opts.on_failure
        if policy is FailurePolicy.FAIL_PARENT:
            child_error = {
                "type": CHILD_FAILED,
                "message": f"child job {job_id} ({job.name}) failed",
                "childJobId": job_id,
            }
            self._final_failure(parent.job_id, child_error, now)
        elif policy is FailurePolicy.CONTINUE:
            self._make_ready(parent.job_id, now)
        elif policy in _RESOLVING_POLICIES:
            self._after_resolved(job_id, now)
        # Whatever the policy, what holds the flow may have changed: a parent
        # that failed or started because of this job no longer waits on the
        # child that made the flow stuck before.
        self._set_stuck(self._find_stuck())

    def _cancel_descendants(self, job_id: str, now: int) -> None:
        """Fail fast: cancel every unfinished job under ``job_id``."""
        stack = list(self.jobs[job_id].children)
        while stack:
            job = self.jobs[stack.pop()]
            stack.extend(job.children)
            if not job.status.finished:
                self._cancel_job(job, now)

    def _cancel_job(self, job: Job, now: int) -> None:
        if job.status is JobState.ACTIVE:
            self.outcome.cancel_running.append(job.job_id)
        self._set(
            job.job_id,
            status=JobState.CANCELLED,
            finished_at=now,
            run_at=None,
            dispatched=False,
        )

    def _after_resolved(self, job_id: str, now: int) -> None:
        job = self.jobs[job_id]
        if job.parent_id is None:
            self._set_flow(FlowStatus.COMPLETED, now)
            self._set_stuck(None)
            return
        parent = self.jobs[job.parent_id]
        if parent.status is JobState.WAITING_CHILDREN and self._unresolved_children(parent) == 0:
            self._make_ready(parent.job_id, now)

    def _unresolved_children(self, parent: Job) -> int:
        count = self._unresolved.get(parent.job_id)
        if count is None:
            count = sum(1 for child in parent.children if not _resolved(self.jobs[child]))
            self._unresolved[parent.job_id] = count
        return count

    def _make_ready(self, job_id: str, now: int) -> None:
        job = self.jobs[job_id]
        delay = job.opts.delay
        self._set(
            job_id,
            status=JobState.DELAYED if delay else JobState.WAITING,
            run_at=now + delay if delay else None,
            dispatched=False,
        )

    def _find_stuck(self) -> StuckInfo | None:
        """The first finally-failed job whose waiting parent cannot go on without it."""
        if self.status is not FlowStatus.ACTIVE:
            return None
        # Any unresolved failed child holds a waiting parent, whatever its policy:
        # a retried parent waits again for a child that failed it (failParent)
        # or that let it start early (continueParent).
        for job in self.jobs.values():
            if (
                job.status is JobState.FAILED
                and not _resolved(job)
                and job.parent_id is not None
                and self.jobs[job.parent_id].status is JobState.WAITING_CHILDREN
            ):
                error = job.error if isinstance(job.error, dict) else {}
                message = str(error.get("message", ""))
                reason = f"job {job.job_id} ({job.name}) failed: {message}".rstrip(": ")
                return StuckInfo(job_id=job.job_id, reason=reason + "; retry it to continue")
        return None

    def note_sent(self, job_id: str) -> None:
        """The dispatcher sent the job's message and stored that; mirror it here.

        Bookkeeping for a machine kept between batches, not a decision: it
        records no patch.
        """
        job = self.jobs.get(job_id)
        if job is not None and job.status in _RUNNABLE and not job.dispatched:
            self._set(job_id, record=False, status=JobState.WAITING, dispatched=True, run_at=None)

    # -- backend findings --------------------------------------------------------

    def stall(self, job_id: str, now: int) -> bool:
        """The worker running ``job_id`` stopped beating: run it again.

        The lost attempt is counted (``attemptsMade``, ``stalls``) but does not
        spend the retry budget until :data:`MAX_STALLS` is reached.
        """
        job = self.jobs.get(job_id)
        if job is None or job.status is not JobState.ACTIVE or self.status is FlowStatus.CANCELLED:
            return False
        error = {"type": STALLED, "message": f"worker {job.worker_id} stopped while running"}
        if job.stalls >= MAX_STALLS:
            error["message"] += f"; stalled {job.stalls + 1} times"
            self._final_failure(job_id, error, now, attempt=job.attempts_made)
            return True
        self._set(
            job_id,
            status=JobState.WAITING,
            stalls=job.stalls + 1,
            retry_base=job.retry_base + 1,
            error=error,
            dispatched=False,
        )
        self.outcome.applied += 1
        return True

    def fail_now(self, job_id: str, error: JSON, now: int) -> bool:
        """Fail a waiting job for good (e.g. no worker knows its task).

        Also in a flow whose root already failed: a job that can never run must
        not stay ready forever.
        """
        job = self.jobs.get(job_id)
        if job is None or job.status not in _RUNNABLE or self.status is FlowStatus.CANCELLED:
            return False
        self._final_failure(job_id, error, now)
        return True

    def requeue_lost(self, job_id: str) -> bool:
        """Redis lost the job's message (restarted empty): send it again.

        The lost attempt does not count against the budget; a running copy's
        late events become stale because the attempt number moves on.
        """
        job = self.jobs.get(job_id)
        if job is None or self.status is FlowStatus.CANCELLED:
            return False
        if job.status is JobState.ACTIVE:
            self._set(
                job_id,
                status=JobState.WAITING,
                retry_base=job.retry_base + 1,
                dispatched=False,
            )
            return True
        if job.status in _RUNNABLE and job.dispatched:
            self._set(job_id, dispatched=False)
            return True
        return False

    # -- operator commands -------------------------------------------------------

    def retry_job(self, job_id: str, now: int) -> None:
        """Run a failed or cancelled job again with a fresh attempt budget."""
        job = self.jobs.get(job_id)
        if job is None:
            raise InvalidTransition(f"no job {job_id} in this flow", job_id=job_id)
        if job.status not in {JobState.FAILED, JobState.CANCELLED}:
            raise InvalidTransition(
                f"job {job_id} is {job.status.value}; only failed or cancelled jobs can be retried",
                job_id=job_id,
            )
        self._reopen(job_id, now)
        self._reopen_ancestors(job.parent_id, now)
        self._set_flow(FlowStatus.ACTIVE, now)
        self._set_stuck(self._find_stuck())

    def retry_flow(self, now: int) -> int:
        """Retry every job that failed on its own, and reopen cancelled ones.

        Jobs that failed only because a child did (``ChildFailed``) are not
        retried themselves: they wait for the retried child again.
        """
        failed = [
            job.job_id
            for job in self.jobs.values()
            if job.status is JobState.FAILED and not _failed_by_child(job)
        ]
        for job_id in failed:
            self.retry_job(job_id, now)
        cancelled_tops = [
            job.job_id
            for job in self.jobs.values()
            if job.status is JobState.CANCELLED
            and (job.parent_id is None or self.jobs[job.parent_id].status is not JobState.CANCELLED)
        ]
        for job_id in cancelled_tops:
            self.retry_job(job_id, now)
        if not failed and not cancelled_tops:
            raise InvalidTransition("the flow has no failed or cancelled jobs to retry")
        return len(failed) + len(cancelled_tops)

    def _reopen(self, job_id: str, now: int) -> None:
        """Make a finished job runnable again, with cancelled children reopened too."""
        job = self.jobs[job_id]
        pending = [c for c in job.children if not _resolved(self.jobs[c])]
        for child in pending:
            if self.jobs[child].status is JobState.CANCELLED:
                self._reopen(child, now)
        self._set(job_id, error=None, finished_at=None, retry_base=job.attempts_made)
        if pending:
            self._set(job_id, status=JobState.WAITING_CHILDREN, run_at=None, dispatched=False)
        else:
            self._make_ready(job_id, now)

    def _reopen_ancestors(self, parent_id: str | None, now: int) -> None:
        """Undo failures and cancellations that only happened because of a child."""
        while parent_id is not None:
            parent = self.jobs[parent_id]
            if parent.status is JobState.CANCELLED or (
                parent.status is JobState.FAILED and _failed_by_child(parent)
            ):
                self._reopen(parent_id, now)
            elif parent.status is not JobState.WAITING_CHILDREN:
                return
            parent_id = parent.parent_id

    def cancel(self, now: int) -> None:
        """Cancel every unfinished job; running ones are asked to stop."""
        if self.status is not FlowStatus.ACTIVE:
            raise InvalidTransition(
                f"the flow is {self.status.value}; only active flows can be cancelled"
            )
        for job in list(self.jobs.values()):
            if not job.status.finished:
                self._cancel_job(job, now)
        self._set_flow(FlowStatus.CANCELLED, now)
        self._set_stuck(None)


def _resolved(job: Job) -> bool:
    """Whether a child no longer holds its parent back."""
    if job.status is JobState.COMPLETED:
        return True
    return job.status is JobState.FAILED and job.opts.on_failure in _RESOLVING_POLICIES


def _failed_by_child(job: Job) -> bool:
    return isinstance(job.error, dict) and job.error.get("type") == CHILD_FAILED
