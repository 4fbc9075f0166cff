"""Regression (found by the fault soak): a delayed job that completes while its
message is being sent must not get a second ``completed`` event when the
dispatcher then marks it sent."""

from __future__ import annotations

import itertools

from backend.domain.engine import Report, ReportType
from backend.domain.models import JobOptions, JobState, User
from backend.domain.tree import JobSpec
from backend.store import execution
from backend.store.store import Store
from tests.backend.store.store_helpers import make_flow

NOW = 1_700_000_000_000


async def test_marking_a_job_sent_after_it_completed_writes_no_event(
    store: Store, alice: User
) -> None:
    counter = itertools.count()
    root = JobSpec("echo", "jobQueue", opts=JobOptions(job_id="r"), children=(
        JobSpec("echo", "jobQueue", opts=JobOptions(job_id="d", delay=5)),
    ))  # fmt: skip
    await make_flow(store, alice, "f", lambda: f"id{next(counter)}", root)
    async with store.db.read() as conn:
        [item] = await execution.ready_jobs(conn, NOW + 10, 10)  # the dispatcher's read
    assert item.job.status is JobState.DELAYED
    # meanwhile the consumer records the job's completion (a redelivered message)
    async with store.db.transaction() as conn:
        flow = await execution.load_flow(conn, "f")
        assert flow is not None
        machine = await execution.load_machine(conn, flow)
        assert machine.apply(Report(ReportType.COMPLETED, "d", 1, NOW + 11, result=1))
        await execution.write_outcome(conn, flow, machine, machine.take_outcome(), NOW + 11)
    async with store.db.transaction() as conn:
        seqs = (await execution.mark_dispatched(conn, [item.job], NOW + 12)).seqs
    assert seqs == []
    job = await store.get_job(alice.id, "d")
    assert job.status is JobState.COMPLETED
    async with (
        store.db.read() as conn,
        conn.execute(
            "SELECT count(*) FROM events WHERE type = 'flow:job:updated' "
            "AND json_extract(payload, '$.jobId') = 'd' "
            "AND json_extract(payload, '$.status') = 'completed'"
        ) as cursor,
    ):
        assert (await cursor.fetchone())[0] == 1
