"""Flows and jobs: create (whole tree, one transaction), read, delete, counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend.domain.models import (
    Backoff,
    BackoffType,
    FailurePolicy,
    FlowStatus,
    Job,
    JobLog,
    JobOptions,
    JobState,
    User,
)
from backend.domain.tree import JobSpec
from backend.errors import Conflict, NotFound
from backend.store.events import StoredEvent, events_after
from backend.store.store import Store
from tests.backend.store.store_helpers import jobs_of, leaf, make_flow


async def all_events(store: Store) -> list[StoredEvent]:
    async with store.db.read() as conn:
        return await events_after(conn, 0, 1_000_000)


async def table_count(store: Store, table: str) -> int:
    async with store.db.read() as conn, conn.execute(f"SELECT count(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def set_status(store: Store, job_id: str, status: JobState) -> None:
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE flow_jobs SET status = ? WHERE job_id = ?", (status.value, job_id)
        )


def big_tree(width: int, leaves: int) -> JobSpec:
    return JobSpec(
        "root",
        "flowQueue",
        children=tuple(
            JobSpec(
                "group",
                "flowQueue",
                data={"group": g},
                children=tuple(leaf(data={"g": g, "i": i}) for i in range(leaves)),
            )
            for g in range(width)
        ),
    )


async def test_create_flow_writes_a_10000_job_tree_in_one_transaction(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    jobs = jobs_of(big_tree(99, 100), "flow-big", ids, store.clock())
    assert len(jobs) == 10_000
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    flow = await store.create_flow(alice.id, "flow-big", "root", jobs)
    await store.db.set_trace_callback(lambda _sql: None)

    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert flow.counts == {"waiting-children": 100, "waiting": 9_900}
    assert flow.root_job_id == jobs[0].job_id
    stored = await store.list_jobs(alice.id, "flow-big")
    assert {job.job_id: job for job in stored} == {job.job_id: job for job in jobs}
    assert [job.depth for job in stored] == sorted(job.depth for job in jobs)
    assert await store.get_flow(alice.id, "flow-big") == flow

    events = await all_events(store)
    assert [(e.type, e.flow_id, e.user_id) for e in events] == [
        ("flow:created", "flow-big", alice.id)
    ]
    payload = events[0].payload
    assert payload["id"] == "flow-big"
    assert payload["rootJobId"] == jobs[0].job_id
    assert payload["total"] == 10_000
    assert payload["counts"]["waiting"] == 9_900


async def test_every_job_field_survives_the_round_trip(store: Store, alice: User) -> None:
    options = JobOptions(
        attempts=3,
        backoff=Backoff(BackoffType.EXPONENTIAL, 250, 0.5),
        delay=10,
        priority=7,
        timeout=5_000,
        job_id="root-1",
        on_failure=FailurePolicy.FAIL_PARENT,
    )
    root = Job(
        id="j-root", job_id="root-1", flow_id="f", parent_id=None, name="sum",
        queue_name="jobQueue", data={"nested": [1, 2.5, None, "é"]}, opts=options,
        status=JobState.WAITING_CHILDREN, children=("child-1", "child-2"),
        created_at=100, updated_at=200,
    )  # fmt: skip
    failed = Job(
        id="j-c1", job_id="child-1", flow_id="f", parent_id="root-1", name="fail",
        queue_name="webhooks", data=False,
        opts=JobOptions(on_failure=FailurePolicy.CONTINUE, backoff=Backoff(delay=3)),
        status=JobState.FAILED, children=(), created_at=100, updated_at=300,
        result=None, error={"type": "ValueError", "message": "boom", "traceback": "..."},
        attempts_made=4, retry_base=2, progress={"pct": 50}, started_at=150,
        finished_at=300, run_at=120, dispatched=True, worker_id="worker-a", depth=1,
    )  # fmt: skip
    done = Job(
        id="j-c2", job_id="child-2", flow_id="f", parent_id="root-1", name="echo",
        queue_name="jobQueue", data=0, opts=JobOptions(), status=JobState.COMPLETED,
        children=(), created_at=100, updated_at=300, result=[{"ok": True}], depth=1,
    )  # fmt: skip
    await store.create_flow(alice.id, "f", "sum", [root, failed, done])
    assert await store.list_jobs(alice.id, "f") == [root, failed, done]
    assert await store.get_job(alice.id, "child-1") == failed


async def test_duplicate_of_a_stored_job_id_is_a_conflict_and_stores_nothing(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    taken = JobSpec("root", "flowQueue", children=(leaf(opts=JobOptions(job_id="dup")),))
    await make_flow(store, alice, "flow-1", ids, taken)
    before = [await table_count(store, t) for t in ("flows", "flow_jobs", "events")]

    clash = JobSpec("root", "flowQueue", children=(leaf(), leaf(opts=JobOptions(job_id="dup"))))
    with pytest.raises(Conflict, match="'dup'") as caught:
        await make_flow(store, alice, "flow-2", ids, clash)
    assert caught.value.code == "duplicate_job_id"
    assert [await table_count(store, t) for t in ("flows", "flow_jobs", "events")] == before
    with pytest.raises(NotFound):
        await store.get_flow(alice.id, "flow-2")
    assert await store.existing_job_ids(["dup", "free"]) == {"dup"}
    assert await store.existing_job_ids([]) == set()


async def test_duplicate_job_id_within_one_tree_is_a_conflict_and_stores_nothing(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    twins = JobSpec(
        "root",
        "flowQueue",
        children=(
            leaf(),
            leaf(opts=JobOptions(job_id="twin")),
            leaf(opts=JobOptions(job_id="twin")),
        ),
    )
    with pytest.raises(Conflict, match="'twin'") as caught:
        await make_flow(store, alice, "flow-1", ids, twins)
    assert caught.value.code == "duplicate_job_id"
    assert [await table_count(store, t) for t in ("flows", "flow_jobs", "events")] == [0, 0, 0]
    # The writer is free again and the same ids can be used once.
    await make_flow(store, alice, "flow-1", ids)


async def test_another_users_flow_and_jobs_are_not_found(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    jobs = await make_flow(store, alice, "flow-a", ids)
    leaf_id = jobs[1].job_id
    for call in (
        store.get_flow(bob.id, "flow-a"),
        store.list_jobs(bob.id, "flow-a"),
        store.get_job(bob.id, leaf_id),
        store.job_logs(bob.id, leaf_id),
        store.delete_flow(bob.id, "flow-a"),
        store.get_flow(alice.id, "no-such-flow"),
        store.list_jobs(alice.id, "no-such-flow"),
        store.get_job(alice.id, "no-such-job"),
        store.job_logs(alice.id, "no-such-job"),
        store.delete_flow(alice.id, "no-such-flow"),
    ):
        with pytest.raises(NotFound):
            await call
    assert await store.list_flows(bob.id, limit=10) == ([], None)
    assert (await store.get_flow(alice.id, "flow-a")).id == "flow-a"
    assert (await store.get_job(alice.id, leaf_id)).job_id == leaf_id


async def test_get_flow_counts_jobs_by_state_and_reports_stuck(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    jobs = await make_flow(store, alice, "flow-1", ids)
    await set_status(store, jobs[1].job_id, JobState.COMPLETED)
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE flows SET status = 'failed', stuck_job_id = ?, stuck_reason = 'child failed', "
            "finished_at = 5 WHERE id = 'flow-1'",
            (jobs[2].job_id,),
        )
    flow = await store.get_flow(alice.id, "flow-1")
    assert flow.counts == {"waiting-children": 1, "waiting": 1, "completed": 1}
    assert flow.status is FlowStatus.FAILED
    assert flow.finished_at == 5
    assert flow.stuck is not None
    assert (flow.stuck.job_id, flow.stuck.reason) == (jobs[2].job_id, "child failed")


async def test_job_logs_come_back_in_order(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    jobs = await make_flow(store, alice, "flow-1", ids)
    job_id = jobs[1].job_id
    async with store.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO job_logs (job_id, attempt, message, created_at) VALUES (?, ?, ?, ?)",
            [(job_id, 1, "first", 10), (job_id, 1, "second", 11), (job_id, 2, "retry", 20)],
        )
    assert await store.job_logs(alice.id, job_id) == [
        JobLog(1, "first", 10),
        JobLog(1, "second", 11),
        JobLog(2, "retry", 20),
    ]
    assert await store.job_logs(alice.id, jobs[2].job_id) == []


async def test_delete_flow_is_refused_while_a_job_is_active(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    jobs = await make_flow(store, alice, "flow-1", ids)
    kept = await make_flow(store, alice, "flow-2", ids)
    async with store.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO job_logs (job_id, attempt, message, created_at) VALUES (?, 1, 'x', 1)",
            (jobs[1].job_id,),
        )
    await set_status(store, jobs[1].job_id, JobState.ACTIVE)
    with pytest.raises(Conflict) as caught:
        await store.delete_flow(alice.id, "flow-1")
    assert caught.value.code == "flow_active"
    assert (await store.get_flow(alice.id, "flow-1")).id == "flow-1"
    assert [e.type for e in await all_events(store)] == ["flow:created", "flow:created"]

    await set_status(store, jobs[1].job_id, JobState.COMPLETED)
    await store.delete_flow(alice.id, "flow-1")
    with pytest.raises(NotFound):
        await store.get_flow(alice.id, "flow-1")
    assert await table_count(store, "flow_jobs") == len(kept)
    assert await table_count(store, "job_logs") == 0
    last = (await all_events(store))[-1]
    assert (last.type, last.flow_id, last.user_id, last.payload) == (
        "flow:deleted",
        "flow-1",
        alice.id,
        {"id": "flow-1"},
    )
    assert len(await store.list_jobs(alice.id, "flow-2")) == len(kept)


async def test_queue_counts_cover_every_queue_and_state(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    jobs = await make_flow(store, alice, "flow-1", ids)  # flowQueue root + 2 jobQueue leaves
    delayed = JobSpec("root", "webhooks", opts=JobOptions(delay=1_000))
    await make_flow(store, bob, "flow-2", ids, delayed)
    await make_flow(store, bob, "flow-3", ids, JobSpec("odd", "notAllowed"))
    await set_status(store, jobs[1].job_id, JobState.COMPLETED)

    counts = await store.queue_counts(["jobQueue", "webhooks", "schedQueue", "flowQueue"])
    zero = {state.value: 0 for state in JobState}
    assert counts == {
        "jobQueue": zero | {"waiting": 1, "completed": 1},
        "webhooks": zero | {"delayed": 1},
        "schedQueue": zero,
        "flowQueue": zero | {"waiting-children": 1},
    }
