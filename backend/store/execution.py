"""The queries that run flows: the outbox, engine snapshots, outcome writes.

The dispatcher reads the outbox (ready jobs not yet sent) and marks what it
sent; the event consumer and the operator commands load a flow's jobs into a
:class:`~backend.domain.engine.FlowMachine` and write back exactly the fields
the machine changed, with their events, in the caller's transaction. Nothing
here decides anything: the rules live in ``backend.domain.engine``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from backend.domain.engine import FlowMachine, Outcome
from backend.domain.models import JSON, FailurePolicy, Flow, Job, JobOptions, JobState
from backend.schemas import FlowJobResponse
from backend.store.events import EventType, append_event, append_rows, flow_payload
from backend.store.rows import JOB_COLUMNS, dumps, dumps_nullable, row_to_flow, row_to_job

# The engine never reads data or result; leaving them out keeps snapshots of
# 10,000-job flows small.
_LIGHT_COLUMNS = ", ".join(
    f"NULL AS {col}" if col in {"data", "result"} else col for col in JOB_COLUMNS
)
_JSON_FIELDS = frozenset({"result", "error", "progress"})
_PATCHABLE = frozenset(
    {
        "status",
        "result",
        "error",
        "attempts_made",
        "retry_base",
        "stalls",
        "progress",
        "run_at",
        "dispatched",
        "worker_id",
        "started_at",
        "finished_at",
    }
)


def _ids(values: Iterable[str]) -> str:
    return dumps(list(values))


async def flow_ids_of_jobs(conn: aiosqlite.Connection, job_ids: Iterable[str]) -> dict[str, str]:
    """job_id -> flow_id for the jobs that exist."""
    async with conn.execute(
        "SELECT job_id, flow_id FROM flow_jobs WHERE job_id IN (SELECT value FROM json_each(?))",
        (_ids(job_ids),),
    ) as cursor:
        return {row["job_id"]: row["flow_id"] for row in await cursor.fetchall()}


async def load_flow(conn: aiosqlite.Connection, flow_id: str) -> Flow | None:
    async with conn.execute("SELECT * FROM flows WHERE id = ?", (flow_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row_to_flow(row)


async def load_machine(conn: aiosqlite.Connection, flow: Flow) -> FlowMachine:
    """A machine over the flow's jobs (without their data and results)."""
    return (await load_machines(conn, [flow]))[flow.id]


async def load_flows(conn: aiosqlite.Connection, flow_ids: Iterable[str]) -> dict[str, Flow]:
    async with conn.execute(
        "SELECT * FROM flows WHERE id IN (SELECT value FROM json_each(?))", (_ids(flow_ids),)
    ) as cursor:
        return {row["id"]: row_to_flow(row) for row in await cursor.fetchall()}


async def load_machines(
    conn: aiosqlite.Connection, flows: Sequence[Flow]
) -> dict[str, FlowMachine]:
    """Machines over the flows' jobs (without data and results), in one query."""
    jobs: dict[str, list[Job]] = {flow.id: [] for flow in flows}
    async with conn.execute(
        f"SELECT {_LIGHT_COLUMNS} FROM flow_jobs "  # noqa: S608 - constant columns
        "WHERE flow_id IN (SELECT value FROM json_each(?))",
        (_ids(jobs),),
    ) as cursor:
        for row in await cursor.fetchall():
            job = row_to_job(row)
            jobs[job.flow_id].append(job)
    return {
        flow.id: FlowMachine(flow.status, jobs[flow.id], stuck=flow.stuck, rand=random.random)
        for flow in flows
    }


async def write_outcome(
    conn: aiosqlite.Connection, flow: Flow, machine: FlowMachine, outcome: Outcome, now: int
) -> tuple[list[int], Flow]:
    """:func:`write_outcomes` for one flow."""
    seqs, [updated] = await write_outcomes(conn, [(flow, machine, outcome)], now)
    return seqs, updated


async def write_outcomes(
    conn: aiosqlite.Connection,
    items: Sequence[tuple[Flow, FlowMachine, Outcome]],
    now: int,
) -> tuple[list[int], list[Flow]]:
    """Persist what each flow's outcome changed and append the events.

    Returns the new events' seqs and each flow as it now stands. However many
    flows and jobs changed, this is a handful of statements: one
    ``executemany`` per distinct set of changed columns, one read of the
    changed rows (for the event payloads), one update of the flows and one
    insert of the events. Every statement is a round trip to the database
    thread while the write lock is held, so their number is what matters.
    """
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    changed_ids: list[str] = []
    for _flow, _machine, outcome in items:
        for job_id, patch in outcome.patches.items():
            columns = tuple(key for key in patch if key in _PATCHABLE)
            values = tuple(_column_value(key, patch[key]) for key in columns)
            if "status" in patch:
                # a held mark explains a wait for a send; a new state ends that wait
                columns, values = (*columns, "held_by"), (*values, None)
            by_columns.setdefault(columns, []).append((*values, now, job_id))
            changed_ids.append(job_id)
    for columns, rows in by_columns.items():
        assignments = "".join(f"{col} = ?, " for col in columns)
        await conn.executemany(
            f"UPDATE flow_jobs SET {assignments}updated_at = ? WHERE job_id = ?",  # noqa: S608
            rows,
        )
    changed_jobs: dict[str, list[Job]] = {}
    if changed_ids:
        async with conn.execute(
            "SELECT * FROM flow_jobs WHERE job_id IN (SELECT value FROM json_each(?))",
            (_ids(changed_ids),),
        ) as cursor:
            for row in await cursor.fetchall():
                job = row_to_job(row)
                changed_jobs.setdefault(job.flow_id, []).append(job)
    events: list[tuple[str, Flow, JSON]] = []
    flow_rows: list[tuple[Any, ...]] = []
    updated_flows: list[Flow] = []
    for flow, machine, outcome in items:
        events += [
            (
                EventType.FLOW_JOB_UPDATED,
                flow,
                FlowJobResponse.of(job).model_dump(mode="json", by_alias=True),
            )
            for job in changed_jobs.get(flow.id, ())
        ]
        updated = flow
        status_changed = any("status" in patch for patch in outcome.patches.values())
        if status_changed or outcome.flow_status is not None or outcome.stuck_changed:
            updated = _updated_flow(flow, machine, outcome, now)
            stuck = updated.stuck
            flow_rows.append(
                (
                    updated.status.value,
                    stuck.job_id if stuck else None,
                    stuck.reason if stuck else None,
                    now,
                    updated.finished_at,
                    flow.id,
                )
            )
            events.append((EventType.FLOW_UPDATED, flow, flow_payload(updated)))
        updated_flows.append(updated)
    if flow_rows:
        await conn.executemany(
            "UPDATE flows SET status = ?, stuck_job_id = ?, stuck_reason = ?, updated_at = ?, "
            "finished_at = ? WHERE id = ?",
            flow_rows,
        )
    return await append_events(conn, events, now), updated_flows


async def append_events(
    conn: aiosqlite.Connection, events: Sequence[tuple[str, Flow, JSON]], now: int
) -> list[int]:
    """Append ``(type, flow, payload)`` events in one statement; returns their seqs."""
    return await append_rows(
        conn, [(kind, flow.id, flow.user_id, payload) for kind, flow, payload in events], now
    )


def _updated_flow(flow: Flow, machine: FlowMachine, outcome: Outcome, now: int) -> Flow:
    return dataclasses.replace(
        flow,
        status=machine.status,
        updated_at=now,
        counts={state: n for state, n in machine.counts.items() if n},
        stuck=machine.stuck,
        finished_at=flow.finished_at if outcome.flow_status is None else outcome.flow_finished_at,
    )


def _column_value(key: str, value: Any) -> Any:
    if key in _JSON_FIELDS:
        return dumps_nullable(value)
    if key == "status":
        return JobState(value).value
    if key == "dispatched":
        return int(bool(value))
    return value


# -- the outbox -----------------------------------------------------------------


@dataclass(frozen=True)
class OutboxJob:
    """A ready job with what its message needs."""

    job: Job
    children_values: Mapping[str, Any]
    ignored_failures: Mapping[str, Any]


async def ready_jobs(
    conn: aiosqlite.Connection,
    now: int,
    limit: int,
    skip_queues: Collection[str] = (),
    skip_keys: Collection[tuple[str, str]] = (),
) -> list[OutboxJob]:
    """Jobs to send now, lowest priority number first, with their children's values.

    ``skip_queues`` and ``skip_keys`` (queue, concurrency key) admit nothing
    now (``backend.domain.limits.blocked``): leaving them out keeps a backlog
    that a control holds from filling every batch ahead of other queues.
    """
    # With jobs to skip, walk the outbox index in dispatch order and stop at
    # ``limit``: the skipped backlog may be most of the outbox, and the
    # planner's other choice (the status index, then a sort) reads all of it.
    indexed = " INDEXED BY flow_jobs_outbox" if skip_queues or skip_keys else ""
    sql = (
        f"SELECT * FROM flow_jobs{indexed} WHERE dispatched = 0 "  # noqa: S608 - constant
        "AND status IN ('waiting', 'delayed') AND (run_at IS NULL OR run_at <= ?)"
    )
    params: list[Any] = [now]
    if skip_queues:
        sql += " AND queue_name NOT IN (SELECT value FROM json_each(?))"
        params.append(_ids(skip_queues))
    if skip_keys:
        sql += (
            " AND (concurrency_key IS NULL OR queue_name || char(31) || concurrency_key "
            "NOT IN (SELECT value FROM json_each(?)))"
        )
        params.append(_ids(f"{queue}\x1f{key}" for queue, key in skip_keys))
    async with conn.execute(sql + " ORDER BY priority, run_at LIMIT ?", (*params, limit)) as cursor:
        jobs = [row_to_job(row) async for row in cursor]
    parents = [job.job_id for job in jobs if job.children]
    values, ignored = await children_values(conn, parents)
    return [OutboxJob(job, values.get(job.job_id, {}), ignored.get(job.job_id, {})) for job in jobs]


async def unclaim(conn: aiosqlite.Connection, jobs: Sequence[Job]) -> None:
    """Undo ``backend.store.admission.claim_ready`` for jobs whose messages could not be sent (back
    to the outbox), unless another writer has moved them on since."""
    await conn.executemany(
        "UPDATE flow_jobs SET dispatched = 0 WHERE job_id = ? AND dispatched = 1 "
        "AND status = 'waiting' AND attempts_made = ?",
        [(job.job_id, job.attempts_made) for job in jobs],
    )


async def children_values(
    conn: aiosqlite.Connection, parent_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    values: dict[str, dict[str, Any]] = {}
    ignored: dict[str, dict[str, Any]] = {}
    if not parent_ids:
        return values, ignored
    async with conn.execute(
        "SELECT parent_id, job_id, status, result, error, opts FROM flow_jobs "
        "WHERE parent_id IN (SELECT value FROM json_each(?)) AND status IN ('completed', 'failed')",
        (_ids(parent_ids),),
    ) as cursor:
        async for row in cursor:
            _collect_child(row, values, ignored)
    return values, ignored


def _collect_child(
    row: sqlite3.Row, values: dict[str, dict[str, Any]], ignored: dict[str, dict[str, Any]]
) -> None:
    parent = row["parent_id"]
    if row["status"] == JobState.COMPLETED.value:
        result = None if row["result"] is None else json.loads(row["result"])
        values.setdefault(parent, {})[row["job_id"]] = result
    elif JobOptions.from_json(json.loads(row["opts"])).on_failure is FailurePolicy.IGNORE:
        error = None if row["error"] is None else json.loads(row["error"])
        ignored.setdefault(parent, {})[row["job_id"]] = error


async def next_run_at(conn: aiosqlite.Connection) -> int | None:
    """When the earliest delayed job becomes due, if any."""
    async with conn.execute(
        "SELECT min(run_at) FROM flow_jobs WHERE dispatched = 0 AND status = 'delayed'"
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


@dataclass(frozen=True)
class Marked:
    """What :func:`mark_dispatched` recorded: the jobs it marked and the events it appended."""

    job_ids: list[tuple[str, str]]  # (flow_id, job_id)
    seqs: list[int]


async def mark_dispatched(conn: aiosqlite.Connection, jobs: Sequence[Job], now: int) -> Marked:
    """Record that these jobs' messages reached the broker; delayed ones are now waiting.

    ``jobs`` are the rows as the dispatcher read them before sending, so each
    message carries attempt ``attempts_made + 1`` of that read. The decision is
    taken again here, from the rows as they stand in this transaction: a job is
    marked only if it is still unsent, still runnable and still expecting that
    attempt. Anything else means another writer moved it on while the message
    was in flight (the consumer finished or rescheduled the attempt, the
    monitor requeued it, an operator cancelled it), and marking it would claim
    that a message for the *current* attempt is in the broker when it is not:
    the job would never be sent again. A job woken from ``delayed`` gets its
    event in this transaction; a waiting job's mark changes no field the wire
    shows (``dispatched`` is bookkeeping), so it appends none and keeps its
    ``updatedAt``.
    """
    sent_attempt = {job.job_id: job.attempts_made for job in jobs}
    async with conn.execute(
        "SELECT job_id, flow_id, status, attempts_made, held_by FROM flow_jobs "
        "WHERE job_id IN (SELECT value FROM json_each(?)) "
        "AND dispatched = 0 AND status IN ('waiting', 'delayed')",
        (_ids(sent_attempt),),
    ) as cursor:
        current = [
            (row["flow_id"], row["job_id"], row["status"], row["held_by"])
            async for row in cursor
            if row["attempts_made"] == sent_attempt[row["job_id"]]
        ]
    if not current:
        return Marked([], [])
    marked = [job_id for _flow_id, job_id, _status, _held in current]
    # A delayed job wakes, and a job a queue control held (before the control
    # was lifted) loses its heldBy: both are on the wire, so both get events.
    woke = [
        job_id
        for _flow_id, job_id, status, held in current
        if status == JobState.DELAYED.value or held is not None
    ]
    await conn.execute(
        "UPDATE flow_jobs SET dispatched = 1, "
        "run_at = CASE status WHEN 'delayed' THEN NULL ELSE run_at END, "
        "updated_at = CASE WHEN status = 'delayed' OR held_by IS NOT NULL THEN ? "
        "ELSE updated_at END, "
        "status = CASE status WHEN 'delayed' THEN 'waiting' ELSE status END, held_by = NULL "
        "WHERE job_id IN (SELECT value FROM json_each(?))",
        (now, _ids(marked)),
    )
    seqs: list[int] = []
    if woke:
        async with conn.execute(
            "SELECT f.user_id, j.* FROM flow_jobs j JOIN flows f ON f.id = j.flow_id "
            "WHERE j.job_id IN (SELECT value FROM json_each(?))",
            (_ids(woke),),
        ) as cursor:
            rows = await cursor.fetchall()
        for row in rows:
            job = row_to_job(row)
            payload = FlowJobResponse.of(job).model_dump(mode="json", by_alias=True)
            seqs.append(
                await append_event(
                    conn, EventType.FLOW_JOB_UPDATED, job.flow_id, row["user_id"], payload, now
                )
            )
    return Marked([(flow_id, job_id) for flow_id, job_id, _status, _held in current], seqs)


async def active_jobs(conn: aiosqlite.Connection) -> list[tuple[str, str, str | None, int]]:
    """(job_id, flow_id, worker_id, updated_at) of every running job."""
    async with conn.execute(
        "SELECT job_id, flow_id, worker_id, updated_at FROM flow_jobs WHERE status = 'active'"
    ) as cursor:
        return [
            (row["job_id"], row["flow_id"], row["worker_id"], row["updated_at"])
            async for row in cursor
        ]


async def sent_unfinished(conn: aiosqlite.Connection) -> dict[str, list[str]]:
    """flow_id -> job_ids whose message is in the broker but not finished."""
    found: dict[str, list[str]] = {}
    async with conn.execute(
        "SELECT job_id, flow_id FROM flow_jobs WHERE status = 'active' "
        "OR (dispatched = 1 AND status IN ('waiting', 'delayed'))"
    ) as cursor:
        async for row in cursor:
            found.setdefault(row["flow_id"], []).append(row["job_id"])
    return found


@dataclass(frozen=True)
class SentJob:
    """A job whose message is in the broker: sent and not yet started (or running)."""

    job_id: str
    flow_id: str
    queue: str
    task: str
    status: JobState
    attempts_made: int


async def waiting_sent(conn: aiosqlite.Connection) -> list[SentJob]:
    """Jobs sent but not yet started."""
    return [job for job in await in_broker(conn) if job.status is not JobState.ACTIVE]


_IN_BROKER = "(status = 'active' OR (status = 'waiting' AND dispatched = 1))"


async def in_broker(
    conn: aiosqlite.Connection, queue: str | None = None, task: str | None = None
) -> list[SentJob]:
    """Jobs whose message the broker should hold: sent and waiting, or running
    (only those of ``queue`` and ``task`` when given)."""
    async with conn.execute(
        "SELECT job_id, flow_id, queue_name, name, status, attempts_made FROM flow_jobs "  # noqa: S608
        f"WHERE {_IN_BROKER} AND (? IS NULL OR (queue_name = ? AND name = ?))",
        (queue, queue, task),
    ) as cursor:
        return [
            SentJob(
                row["job_id"],
                row["flow_id"],
                row["queue_name"],
                row["name"],
                JobState(row["status"]),
                row["attempts_made"],
            )
            async for row in cursor
        ]


async def in_broker_counts(conn: aiosqlite.Connection) -> dict[tuple[str, str], int]:
    """(queue, task) -> how many jobs' messages the broker should hold."""
    async with conn.execute(
        "SELECT queue_name, name, count(*) AS n FROM flow_jobs "  # noqa: S608
        f"WHERE {_IN_BROKER} GROUP BY queue_name, name"
    ) as cursor:
        return {(row["queue_name"], row["name"]): row["n"] async for row in cursor}


async def append_logs(
    conn: aiosqlite.Connection, logs: Sequence[tuple[str, int, str, int]]
) -> None:
    """(job_id, attempt, message, time) rows; logs of deleted jobs are dropped."""
    if not logs:
        return
    await conn.executemany(
        "INSERT INTO job_logs (job_id, attempt, message, created_at) "
        "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM flow_jobs WHERE job_id = ?)",
        [(job_id, attempt, message, time, job_id) for job_id, attempt, message, time in logs],
    )
