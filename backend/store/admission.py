"""Claiming ready jobs for sending, under the queues' controls.

Two writers take jobs out of the outbox by marking them sent *before* their
messages go out: the event consumer, for the jobs its batch made ready (one
commit per hop), and the dispatcher, for jobs of controlled queues. Marking
first is what makes a limit exact: the mark, the load it was checked
against and the rate-window entry are one transaction, and transactions
never overlap, so two writers cannot both take the last slot (the outbox's
send-then-mark path cannot promise that, so the dispatcher sends only
uncontrolled queues that way). A crash between the commit and the send
leaves a job marked sent with no message: the monitor's lost-message check
sends it again, and meanwhile it holds its slot, as a sent job should.

The decision is ``backend.domain.limits.admit``; this module reads the load,
writes the marks (``dispatched``, ``held_by``) and their events.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiosqlite

from backend.domain.limits import Blocked, Candidate, HeldBy, QueueControls, admit
from backend.domain.models import Job, JobState
from backend.schemas import FlowJobResponse
from backend.store.events import EventType, append_rows
from backend.store.execution import OutboxJob, children_values
from backend.store.queues import load_controls, queue_loads, record_sends, set_held, unmarked_held
from backend.store.rows import row_to_job


async def claim_ready(
    conn: aiosqlite.Connection,
    job_ids: Iterable[str],
    accept: Callable[[Job], bool],
    now: int,
    controls: Mapping[str, QueueControls] | None = None,
) -> list[OutboxJob]:
    """Mark sent, in the caller's transaction, those of ``job_ids`` that are
    ready now (unsent, waiting or due), ``accept`` and their queue's controls
    admit; return them with what their messages need. Jobs a control holds get
    ``held_by`` set (with an event when it changes) and stay in the outbox.

    A job whose wire form changes with the mark (a due delayed job becomes
    waiting; a held job loses its ``heldBy``) gets its event here; a plain
    mark changes nothing the wire shows (``dispatched`` is bookkeeping).
    """
    async with conn.execute(
        "SELECT f.user_id, j.* FROM flow_jobs j JOIN flows f ON f.id = j.flow_id "
        "WHERE j.job_id IN (SELECT value FROM json_each(?)) AND j.dispatched = 0 "
        "AND j.status IN ('waiting', 'delayed') AND (j.run_at IS NULL OR j.run_at <= ?)",
        (json.dumps(list(job_ids)), now),
    ) as cursor:
        rows = [row for row in await cursor.fetchall() if accept(row_to_job(row))]
    if not rows:
        return []
    rows.sort(key=lambda row: (row["priority"], row["run_at"] or 0))  # the outbox's order
    if controls is None:
        controls = await load_controls(conn)
    jobs = {row["job_id"]: row_to_job(row) for row in rows}
    users = {row["job_id"]: row["user_id"] for row in rows}
    admission = admit(
        controls,
        await queue_loads(conn, controls, now),
        [Candidate(job.job_id, job.queue_name, job.opts.concurrency_key) for job in jobs.values()],
        now,
    )
    events = await set_held(conn, admission.held, now)
    sent = [jobs[job_id] for job_id in admission.admitted]
    if sent:
        await conn.execute(
            "UPDATE flow_jobs SET dispatched = 1, held_by = NULL, run_at = NULL, "
            "updated_at = CASE WHEN status = 'delayed' OR held_by IS NOT NULL THEN ? "
            "ELSE updated_at END, status = 'waiting' "
            "WHERE job_id IN (SELECT value FROM json_each(?))",
            (now, json.dumps([job.job_id for job in sent])),
        )
        events += [
            (job.flow_id, users[job.job_id], _sent_payload(job, now))
            for job in sent
            if job.status is JobState.DELAYED or job.held_by is not None
        ]
        await record_sends(conn, admission.sent, controls, now)
    await append_rows(
        conn, [(EventType.FLOW_JOB_UPDATED, flow, user, data) for flow, user, data in events], now
    )
    values, ignored = await children_values(conn, [job.job_id for job in sent if job.children])
    return [OutboxJob(job, values.get(job.job_id, {}), ignored.get(job.job_id, {})) for job in sent]


def _sent_payload(job: Job, now: int) -> Any:
    marked = dataclasses.replace(
        job, status=JobState.WAITING, run_at=None, held_by=None, dispatched=True, updated_at=now
    )
    return FlowJobResponse.of(marked).model_dump(mode="json", by_alias=True)


async def hold_blocked(conn: aiosqlite.Connection, blocked: Blocked, now: int, limit: int) -> int:
    """Mark (at most ``limit``) ready jobs that the outbox query skipped
    because their queue or key admits nothing now; returns how many changed."""
    held: dict[str, HeldBy | None] = dict(
        await unmarked_held(conn, blocked.queues, blocked.keys, now, limit)
    )
    events = await set_held(conn, held, now)
    await append_rows(
        conn, [(EventType.FLOW_JOB_UPDATED, flow, user, data) for flow, user, data in events], now
    )
    return len(events)
