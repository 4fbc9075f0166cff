"""The execution queries: the outbox, engine snapshots and outcome writes."""

from __future__ import annotations

import itertools
import json

from backend.domain.engine import Report, ReportType
from backend.domain.models import FailurePolicy, JobOptions, JobState, User
from backend.domain.tree import JobSpec
from backend.store import execution
from backend.store.store import Store
from tests.backend.store.store_helpers import leaf, make_flow

NOW = 1_700_000_000_000


def ids() -> itertools.count[int]:
    return itertools.count()


def named(job_id: str, *children: JobSpec, **opts: object) -> JobSpec:
    return JobSpec("echo", "jobQueue", opts=JobOptions(job_id=job_id, **opts), children=children)  # type: ignore[arg-type]


async def test_outbox_orders_by_priority_and_waits_for_run_at(store: Store, alice: User) -> None:
    counter = ids()
    root = named(
        "r",
        named("low", priority=5),
        named("none"),
        named("high", priority=1),
        named("later", delay=60_000),
    )
    await make_flow(store, alice, "f", lambda: f"id{next(counter)}", root)
    async with store.db.read() as conn:
        now_ready = await execution.ready_jobs(conn, NOW, 10)
        later_ready = await execution.ready_jobs(conn, NOW + 60_000, 10)
        due = await execution.next_run_at(conn)
    assert [item.job.job_id for item in now_ready] == ["none", "high", "low"]
    assert "later" in [item.job.job_id for item in later_ready]
    assert due == NOW + 60_000


async def test_mark_dispatched_wakes_delayed_jobs_and_logs_an_event(
    store: Store, alice: User
) -> None:
    counter = ids()
    await make_flow(
        store, alice, "f", lambda: f"id{next(counter)}", named("r", named("d", delay=5))
    )
    async with store.db.read() as conn:
        [item] = await execution.ready_jobs(conn, NOW + 10, 10)
    async with store.db.transaction() as conn:
        seqs = (await execution.mark_dispatched(conn, [item.job], NOW + 10)).seqs
    job = await store.get_job(alice.id, "d")
    assert job.status is JobState.WAITING
    assert job.dispatched
    assert job.run_at is None
    assert len(seqs) == 1
    async with store.db.read() as conn:
        assert await execution.ready_jobs(conn, NOW + 10, 10) == []


async def test_children_values_and_ignored_failures_reach_the_parent(
    store: Store, alice: User
) -> None:
    counter = ids()
    root = named(
        "r",
        named("ok"),
        named("ignored", on_failure=FailurePolicy.IGNORE),
        named("removed", on_failure=FailurePolicy.REMOVE),
    )
    await make_flow(store, alice, "f", lambda: f"id{next(counter)}", root)
    async with store.db.transaction() as conn:
        flow = await execution.load_flow(conn, "f")
        assert flow is not None
        machine = await execution.load_machine(conn, flow)
        error = {"type": "E", "message": "x"}
        machine.apply(Report(ReportType.COMPLETED, "ok", 1, NOW, result={"v": 1}))
        machine.apply(Report(ReportType.FAILED, "ignored", 1, NOW, error=error))
        machine.apply(Report(ReportType.FAILED, "removed", 1, NOW, error=error))
        seqs, updated = await execution.write_outcome(
            conn, flow, machine, machine.take_outcome(), NOW
        )
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # contiguous, in order
    assert updated.counts == {"waiting": 1, "completed": 1, "failed": 2}
    async with store.db.read() as conn:
        [parent] = [i for i in await execution.ready_jobs(conn, NOW, 10) if i.job.job_id == "r"]
        async with conn.execute(
            "SELECT type, payload FROM events WHERE seq >= ? ORDER BY seq", (seqs[0],)
        ) as cursor:
            logged = [(row[0], json.loads(row[1])) for row in await cursor.fetchall()]
    assert parent.children_values == {"ok": {"v": 1}}
    assert parent.ignored_failures == {"ignored": error}
    assert [kind for kind, _ in logged].count("flow:job:updated") == 4
    assert logged[-1][0] == "flow:updated"
    assert logged[-1][1]["counts"]["failed"] == 2


async def test_write_outcome_changes_only_patched_fields(store: Store, alice: User) -> None:
    counter = ids()
    jobs = await make_flow(store, alice, "f", lambda: f"id{next(counter)}")
    leaf_id = jobs[1].job_id
    async with store.db.transaction() as conn:
        flow = await execution.load_flow(conn, "f")
        assert flow is not None
        machine = await execution.load_machine(conn, flow)
        machine.apply(Report(ReportType.PROGRESS, leaf_id, 1, NOW, progress=40))
        seqs, _ = await execution.write_outcome(conn, flow, machine, machine.take_outcome(), NOW)
    job = await store.get_job(alice.id, leaf_id)
    assert job.progress == 40
    assert job.data == jobs[1].data  # not touched, though the machine never loaded it
    assert len(seqs) == 1  # a job update; the flow's counts did not change


async def test_append_logs_skips_deleted_jobs(store: Store, alice: User) -> None:
    counter = ids()
    jobs = await make_flow(
        store,
        alice,
        "f",
        lambda: f"id{next(counter)}",
        JobSpec("a", "jobQueue", children=(leaf(),)),
    )
    async with store.db.transaction() as conn:
        await execution.append_logs(
            conn, [(jobs[1].job_id, 1, "hello", NOW), ("gone", 1, "lost", NOW)]
        )
    logs = await store.job_logs(alice.id, jobs[1].job_id)
    assert [log.message for log in logs] == ["hello"]
