"""The pure state object: messages and snapshots in, typed changes out."""

from __future__ import annotations

from typing import Any

import pytest

from backend.schemas import (
    EventMessage,
    FlowCreatedMessage,
    FlowDeletedMessage,
    FlowJobResponse,
    FlowJobUpdatedMessage,
    FlowRef,
    FlowResponse,
    FlowStatus,
    FlowUpdatedMessage,
    JobState,
    Stuck,
)
from desktop.state import (
    Alert,
    FlowAdded,
    FlowChanged,
    FlowdeskState,
    FlowRemoved,
    JobChanged,
    JobFinished,
    JobsLoaded,
    flow_alert,
)


def t(ms: int) -> str:
    return f"2026-01-01T00:00:00.{ms:03d}+00:00"


def flow_of(fid: str = "f1", ms: int = 1, **kw: Any) -> FlowResponse:
    base: dict[str, Any] = {
        "id": fid,
        "name": "render",
        "status": FlowStatus.ACTIVE,
        "root_job_id": "root",
        "created_at": t(0),
        "updated_at": t(ms),
        "counts": {JobState.WAITING.value: 2},
        "total": 2,
    }
    return FlowResponse(**{**base, **kw})


def job_of(jid: str, ms: int = 1, fid: str = "f1", **kw: Any) -> FlowJobResponse:
    base: dict[str, Any] = {
        "job_id": jid,
        "flow_id": fid,
        "parent_id": None,
        "name": "echo",
        "queue_name": "jobQueue",
        "status": JobState.WAITING,
        "children": [],
        "attempts_made": 0,
        "created_at": t(0),
        "updated_at": t(ms),
        "opts": {"attempts": 3},
    }
    return FlowJobResponse(**{**base, **kw})


def created(seq: int, flow: FlowResponse) -> EventMessage:
    return FlowCreatedMessage(type="flow:created", seq=seq, data=flow)


def updated(seq: int, flow: FlowResponse) -> EventMessage:
    return FlowUpdatedMessage(type="flow:updated", seq=seq, data=flow)


def job_updated(seq: int, job: FlowJobResponse) -> EventMessage:
    return FlowJobUpdatedMessage(type="flow:job:updated", seq=seq, data=job)


def test_flow_created_then_updated_then_deleted() -> None:
    state = FlowdeskState()
    [added] = state.apply(created(1, flow_of()))
    assert isinstance(added, FlowAdded)
    assert added.flow.name == "render"
    [changed] = state.apply(updated(2, flow_of(ms=2, status=FlowStatus.COMPLETED)))
    assert isinstance(changed, FlowChanged)
    assert changed.previous.status is FlowStatus.ACTIVE
    assert changed.flow.status is FlowStatus.COMPLETED
    deleted = FlowDeletedMessage(type="flow:deleted", seq=3, data=FlowRef(id="f1"))
    assert state.apply(deleted) == [FlowRemoved("f1")]
    assert state.flows == {}
    assert state.last_seq == 3


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        (1, 2, 2),  # newer replaces
        (2, 1, 2),  # an older snapshot never replaces a newer message
        (2, 2, 2),  # same instant: later arrival wins but nothing changed
    ],
)
def test_older_record_never_replaces_newer(first: int, second: int, kept: int) -> None:
    state = FlowdeskState()
    state.load_flows([flow_of(ms=first, name=f"v{first}")])
    state.load_flows([flow_of(ms=second, name=f"v{second}")])
    assert state.flows["f1"].name == f"v{kept}"


def test_duplicate_seq_is_ignored() -> None:
    state = FlowdeskState()
    state.apply(created(5, flow_of()))
    assert state.apply(updated(5, flow_of(ms=9))) == []
    assert state.apply(updated(4, flow_of(ms=9))) == []


def test_job_updates_only_kept_for_tracked_flows() -> None:
    state = FlowdeskState()
    assert state.apply(job_updated(1, job_of("j1", status=JobState.ACTIVE))) == []
    state.track("f1")
    changes = state.apply(job_updated(2, job_of("j1", ms=2, status=JobState.COMPLETED)))
    assert [type(c) for c in changes] == [JobFinished, JobChanged]
    assert state.jobs["f1"]["j1"].status is JobState.COMPLETED
    state.untrack("f1")
    assert not state.is_tracked("f1")


def test_job_finished_reported_once_per_transition() -> None:
    state = FlowdeskState()
    state.track("f1")
    done = job_of("j1", ms=2, status=JobState.COMPLETED)
    first = state.apply(job_updated(1, done))
    again = state.apply(
        job_updated(2, done.model_copy(update={"updated_at": t(3), "progress": 100}))
    )
    assert any(isinstance(c, JobFinished) for c in first)
    assert not any(isinstance(c, JobFinished) for c in again)


def test_snapshot_keeps_newer_job_from_a_message() -> None:
    state = FlowdeskState()
    state.track("f1")
    state.apply(job_updated(1, job_of("j1", ms=5, status=JobState.COMPLETED)))
    stale = [job_of("j1", ms=1), job_of("j2", ms=1)]
    assert state.load_jobs("f1", stale) == [JobsLoaded("f1")]
    assert state.jobs["f1"]["j1"].status is JobState.COMPLETED
    assert set(state.jobs["f1"]) == {"j1", "j2"}


def test_forget_flows_reports_removals() -> None:
    state = FlowdeskState()
    state.load_flows([flow_of("a"), flow_of("b")])
    assert state.forget_flows() == [FlowRemoved("a"), FlowRemoved("b")]


STUCK = Stuck(job_id="j", reason="child failed")


@pytest.mark.parametrize(
    ("before", "after", "alert"),
    [
        (None, {"status": FlowStatus.FAILED}, Alert.FAILED),
        ({"status": FlowStatus.ACTIVE}, {"status": FlowStatus.FAILED}, Alert.FAILED),
        ({"status": FlowStatus.FAILED}, {"status": FlowStatus.FAILED}, None),
        ({}, {"stuck": STUCK}, Alert.STUCK),
        ({"stuck": STUCK}, {"stuck": STUCK}, None),
        ({}, {"status": FlowStatus.COMPLETED}, Alert.COMPLETED),
        ({}, {}, None),
    ],
)
def test_flow_alerts(
    before: dict[str, Any] | None, after: dict[str, Any], alert: Alert | None
) -> None:
    previous = None if before is None else flow_of(**before)
    assert flow_alert(previous, flow_of(**after)) == alert
