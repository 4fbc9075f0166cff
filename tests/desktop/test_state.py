"""The pure state object: messages and snapshots in, typed changes out."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.client.records import (
    FlowInfo,
    FlowStatus,
    JobInfo,
    JobState,
    ProtocolError,
    ServerMessage,
    flatten_tree,
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


def flow_json(fid: str = "f1", ms: int = 1, **kw: Any) -> dict[str, Any]:
    base = {
        "id": fid,
        "name": "render",
        "status": "active",
        "rootJobId": "root",
        "createdAt": t(0),
        "updatedAt": t(ms),
        "counts": {"waiting": 2},
        "total": 2,
    }
    return {**base, **kw}


def job_json(jid: str, ms: int = 1, fid: str = "f1", **kw: Any) -> dict[str, Any]:
    base = {
        "id": jid,
        "jobId": jid,
        "flowId": fid,
        "parentId": None,
        "name": "echo",
        "queueName": "jobQueue",
        "status": "waiting",
        "children": [],
        "attemptsMade": 0,
        "createdAt": t(0),
        "updatedAt": t(ms),
        "opts": {"attempts": 3},
    }
    return {**base, **kw}


def msg(type_: str, seq: int, data: Any) -> ServerMessage:
    return ServerMessage(type_, seq, data)


def test_flow_created_then_updated_then_deleted() -> None:
    state = FlowdeskState()
    [added] = state.apply(msg("flow:created", 1, flow_json()))
    assert isinstance(added, FlowAdded)
    assert added.flow.name == "render"
    [changed] = state.apply(msg("flow:updated", 2, flow_json(ms=2, status="completed")))
    assert isinstance(changed, FlowChanged)
    assert changed.previous.status is FlowStatus.ACTIVE
    assert changed.flow.status is FlowStatus.COMPLETED
    assert state.apply(msg("flow:deleted", 3, {"id": "f1"})) == [FlowRemoved("f1")]
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
    state.load_flows([FlowInfo.from_json(flow_json(ms=first, name=f"v{first}"))])
    state.load_flows([FlowInfo.from_json(flow_json(ms=second, name=f"v{second}"))])
    assert state.flows["f1"].name == f"v{kept}"


def test_duplicate_seq_is_ignored() -> None:
    state = FlowdeskState()
    state.apply(msg("flow:created", 5, flow_json()))
    assert state.apply(msg("flow:updated", 5, flow_json(ms=9))) == []
    assert state.apply(msg("flow:updated", 4, flow_json(ms=9))) == []


def test_job_updates_only_kept_for_tracked_flows() -> None:
    state = FlowdeskState()
    update = msg("flow:job:updated", 1, job_json("j1", status="active"))
    assert state.apply(update) == []
    state.track("f1")
    changes = state.apply(msg("flow:job:updated", 2, job_json("j1", ms=2, status="completed")))
    assert [type(c) for c in changes] == [JobFinished, JobChanged]
    assert state.jobs["f1"]["j1"].status is JobState.COMPLETED
    state.untrack("f1")
    assert not state.is_tracked("f1")


def test_job_finished_reported_once_per_transition() -> None:
    state = FlowdeskState()
    state.track("f1")
    done = job_json("j1", ms=2, status="completed")
    first = state.apply(msg("flow:job:updated", 1, done))
    again = state.apply(msg("flow:job:updated", 2, {**done, "updatedAt": t(3), "progress": 100}))
    assert any(isinstance(c, JobFinished) for c in first)
    assert not any(isinstance(c, JobFinished) for c in again)


def test_snapshot_keeps_newer_job_from_a_message() -> None:
    state = FlowdeskState()
    state.track("f1")
    state.apply(msg("flow:job:updated", 1, job_json("j1", ms=5, status="completed")))
    stale = [JobInfo.from_json(job_json("j1", ms=1)), JobInfo.from_json(job_json("j2", ms=1))]
    assert state.load_jobs("f1", stale) == [JobsLoaded("f1")]
    assert state.jobs["f1"]["j1"].status is JobState.COMPLETED
    assert set(state.jobs["f1"]) == {"j1", "j2"}


def test_unknown_type_changes_nothing_and_bad_payload_raises() -> None:
    state = FlowdeskState()
    assert state.apply(msg("flow:something-new", 1, {})) == []
    with pytest.raises(ProtocolError):
        state.apply(msg("flow:created", 2, {"id": 3}))
    with pytest.raises(ProtocolError):
        state.apply(msg("flow:deleted", 3, {}))


def test_forget_flows_reports_removals() -> None:
    state = FlowdeskState()
    state.load_flows([FlowInfo.from_json(flow_json("a")), FlowInfo.from_json(flow_json("b"))])
    assert state.forget_flows() == [FlowRemoved("a"), FlowRemoved("b")]


@pytest.mark.parametrize(
    ("before", "after", "alert"),
    [
        (None, {"status": "failed"}, Alert.FAILED),
        ({"status": "active"}, {"status": "failed"}, Alert.FAILED),
        ({"status": "failed"}, {"status": "failed"}, None),
        ({}, {"stuck": {"jobId": "j", "reason": "child failed"}}, Alert.STUCK),
        ({"stuck": {"jobId": "j", "reason": "x"}}, {"stuck": {"jobId": "j", "reason": "x"}}, None),
        ({}, {"status": "completed"}, Alert.COMPLETED),
        ({}, {}, None),
    ],
)
def test_flow_alerts(
    before: dict[str, Any] | None, after: dict[str, Any], alert: Alert | None
) -> None:
    previous = None if before is None else FlowInfo.from_json(flow_json(**before))
    assert flow_alert(previous, FlowInfo.from_json(flow_json(**after))) == alert


def test_records_parse_progress_counts_and_tree() -> None:
    flow = FlowInfo.from_json(
        flow_json(counts={"completed": 3, "failed": 1, "active": 2, "cancelled": 1}, total=7)
    )
    assert (flow.done, flow.total, flow.failed_jobs) == (5, 7, 1)
    tree = {
        **job_json("r"),
        "children": ["a"],
        "nodes": [
            {**job_json("a", parentId="r"), "nodes": [{**job_json("b", parentId="a"), "nodes": []}]}
        ],
    }
    assert [j.job_id for j in flatten_tree(tree)] == ["r", "a", "b"]
    job = JobInfo.from_json(job_json("x", status="brand-new-state"))
    assert job.status is JobState.UNKNOWN
    assert job.attempts_allowed == 3
