"""The window's picture of the server, updated by messages and snapshots.

Theory of operation. The server's database is the truth; this object is a
cache of it that two sources feed: REST snapshots (a page of flows, the jobs
of one flow) and websocket messages (``flow:created``, ``flow:updated``,
``flow:job:updated``, ``flow:deleted``). The two race: a snapshot fetched
before a message may arrive after it. Every record carries the server's
``updatedAt``, so the rule is simply "a record never replaces a newer one"
(equal times: the later arrival wins, which is a message replayed after a
snapshot of the same instant).

Each call returns the list of changes it made, as typed records, so the Qt
models can emit exactly ``beginInsertRows`` / ``dataChanged`` for them and the
tree view can repaint only the nodes that changed. Jobs are kept only for
*tracked* flows (the ones a view shows), because a busy server sends far more
job updates than the window needs to remember.

Nothing here does I/O or imports Qt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from backend.schemas import (
    EventMessage,
    FlowCreatedMessage,
    FlowDeletedMessage,
    FlowJobResponse,
    FlowJobUpdatedMessage,
    FlowResponse,
    FlowStatus,
    FlowUpdatedMessage,
    JobState,
    QueueUpdatedMessage,
)


@dataclass(frozen=True)
class FlowAdded:
    flow: FlowResponse


@dataclass(frozen=True)
class FlowChanged:
    flow: FlowResponse
    previous: FlowResponse


@dataclass(frozen=True)
class FlowRemoved:
    flow_id: str


@dataclass(frozen=True)
class JobsLoaded:
    """The whole job set of a tracked flow was (re)loaded: redraw the tree."""

    flow_id: str


@dataclass(frozen=True)
class JobChanged:
    job: FlowJobResponse
    previous: FlowJobResponse | None  # None: a job the tracked flow did not have yet


@dataclass(frozen=True)
class JobFinished:
    """A job reached completed/failed (any flow, tracked or not): for charts."""

    job_id: str
    status: JobState
    finished_at: str


Change = FlowAdded | FlowChanged | FlowRemoved | JobsLoaded | JobChanged | JobFinished


class Alert(StrEnum):
    FAILED = "failed"
    STUCK = "stuck"
    COMPLETED = "completed"


def flow_alert(previous: FlowResponse | None, current: FlowResponse) -> Alert | None:
    """What a flow's transition is worth telling the operator, if anything."""
    was_status = previous.status if previous is not None else None
    if current.status is FlowStatus.FAILED and was_status is not FlowStatus.FAILED:
        return Alert.FAILED
    if current.stuck is not None and (previous is None or previous.stuck is None):
        return Alert.STUCK
    if current.status is FlowStatus.COMPLETED and was_status is not FlowStatus.COMPLETED:
        return Alert.COMPLETED
    return None


def _finished(job: FlowJobResponse, previous: FlowJobResponse | None) -> list[Change]:
    """A ``JobFinished`` if this update is the job reaching completed/failed."""
    if job.status not in (JobState.COMPLETED, JobState.FAILED):
        return []
    if previous is not None and previous.status is job.status:
        return []
    return [JobFinished(job.job_id, job.status, job.finished_at or job.updated_at)]


def _newer_or_same(incoming: str, existing: str) -> bool:
    # The server formats every time the same way (ISO 8601, UTC, fixed
    # milliseconds), so string order is time order.
    return incoming >= existing


class FlowdeskState:
    """Flows by id, jobs of tracked flows, and the last applied ``seq``."""

    def __init__(self) -> None:
        self.flows: dict[str, FlowResponse] = {}
        self.jobs: dict[str, dict[str, FlowJobResponse]] = {}
        self.last_seq: int | None = None

    # --- tracking --------------------------------------------------------------

    def track(self, flow_id: str) -> None:
        self.jobs.setdefault(flow_id, {})

    def untrack(self, flow_id: str) -> None:
        self.jobs.pop(flow_id, None)

    def is_tracked(self, flow_id: str) -> bool:
        return flow_id in self.jobs

    # --- snapshots -------------------------------------------------------------

    def load_flows(self, flows: Iterable[FlowResponse]) -> list[Change]:
        changes: list[Change] = []
        for flow in flows:
            change = self._put_flow(flow)
            if change is not None:
                changes.append(change)
        return changes

    def load_jobs(self, flow_id: str, jobs: Iterable[FlowJobResponse]) -> list[Change]:
        """Replace a flow's jobs with a snapshot, keeping any newer record."""
        old = self.jobs.get(flow_id, {})
        fresh: dict[str, FlowJobResponse] = {}
        for incoming in jobs:
            kept = old.get(incoming.job_id)
            newer = kept is None or _newer_or_same(incoming.updated_at, kept.updated_at)
            fresh[incoming.job_id] = incoming if newer or kept is None else kept
        self.jobs[flow_id] = fresh
        return [JobsLoaded(flow_id)]

    def forget_flows(self) -> list[Change]:
        """Drop every flow (before a full reload after ``resync``)."""
        removed: list[Change] = [FlowRemoved(flow_id) for flow_id in self.flows]
        self.flows.clear()
        return removed

    # --- messages --------------------------------------------------------------

    def apply(self, message: EventMessage) -> list[Change]:
        """Apply one event message (already parsed with the wire's models)."""
        if self.last_seq is not None and message.seq <= self.last_seq:
            return []
        self.last_seq = message.seq
        if isinstance(message, FlowCreatedMessage | FlowUpdatedMessage):
            change = self._put_flow(message.data)
            return [] if change is None else [change]
        if isinstance(message, FlowJobUpdatedMessage):
            return self._on_job(message.data)
        if isinstance(message, QueueUpdatedMessage):
            return []  # no flow changed; the queues page reloads ``GET /queues`` itself
        return self._on_deleted(message)

    def _on_job(self, job: FlowJobResponse) -> list[Change]:
        changes: list[Change] = []
        jobs = self.jobs.get(job.flow_id)
        previous = None if jobs is None else jobs.get(job.job_id)
        if previous is not None and not _newer_or_same(job.updated_at, previous.updated_at):
            return changes
        changes.extend(_finished(job, previous))
        if jobs is not None:
            jobs[job.job_id] = job
            changes.append(JobChanged(job, previous))
        return changes

    def _on_deleted(self, message: FlowDeletedMessage) -> list[Change]:
        flow_id = message.data.id
        self.jobs.pop(flow_id, None)
        if self.flows.pop(flow_id, None) is None:
            return []
        return [FlowRemoved(flow_id)]

    def _put_flow(self, flow: FlowResponse) -> Change | None:
        previous = self.flows.get(flow.id)
        if previous is None:
            self.flows[flow.id] = flow
            return FlowAdded(flow)
        if not _newer_or_same(flow.updated_at, previous.updated_at) or flow == previous:
            return None
        self.flows[flow.id] = flow
        return FlowChanged(flow, previous)
