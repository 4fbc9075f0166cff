"""Flows and their jobs as the REST API reads and writes them.

Ownership is part of every query: a flow or job of another user is
indistinguishable from one that does not exist (NotFound), so ids leak
nothing. Listing pages by ``flows.seq`` (newest first): a cursor is the last
``seq`` returned and the next page is ``seq < cursor``, so flows created
while a client pages never shift the pages it has not read yet.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import aiosqlite

from backend.domain.models import Flow, FlowStatus, Job, JobLog, JobState
from backend.domain.search import MetaValue, meta_text
from backend.errors import ClientError, Conflict, NotFound
from backend.store.db import Database
from backend.store.events import EventType, append_event, flow_payload
from backend.store.rows import (
    INSERT_JOB,
    JobRow,
    dumps,
    jobs_to_rows,
    row_to_flow,
    row_to_job,
    row_to_job_log,
    rows_to_jobs,
)


async def _owned_flow_row(conn: aiosqlite.Connection, user_id: str, flow_id: str) -> sqlite3.Row:
    async with conn.execute(
        "SELECT * FROM flows WHERE id = ? AND user_id = ?", (flow_id, user_id)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no flow with id {flow_id!r}", code="flow_not_found")
    return row


async def _owned_job_row(conn: aiosqlite.Connection, user_id: str, job_id: str) -> sqlite3.Row:
    async with conn.execute(
        "SELECT j.* FROM flow_jobs j JOIN flows f ON f.id = j.flow_id "
        "WHERE j.job_id = ? AND f.user_id = ?",
        (job_id, user_id),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no job with id {job_id!r}", code="job_not_found")
    return row


async def flow_counts_of(
    conn: aiosqlite.Connection, flow_ids: Iterable[str]
) -> dict[str, dict[str, int]]:
    """Job counts per state for each flow, in one grouped query."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    async with conn.execute(
        "SELECT flow_id, status, count(*) AS n FROM flow_jobs "
        "WHERE flow_id IN (SELECT value FROM json_each(?)) GROUP BY flow_id, status",
        (dumps(list(flow_ids)),),
    ) as cursor:
        async for row in cursor:
            counts[row["flow_id"]][row["status"]] = row["n"]
    return counts


async def _existing_job_ids(conn: aiosqlite.Connection, job_ids: Sequence[str]) -> set[str]:
    if not job_ids:
        return set()
    async with conn.execute(
        "SELECT job_id FROM flow_jobs WHERE job_id IN (SELECT value FROM json_each(?))",
        (dumps(list(job_ids)),),
    ) as cursor:
        return {row["job_id"] async for row in cursor}


async def delete_owned_flow(
    conn: aiosqlite.Connection, user_id: str, flow_id: str, now: int
) -> None:
    """Delete one of the user's flows inside the caller's transaction (see
    ``FlowQueries.delete_flow``); NotFound or Conflict leave it untouched."""
    await _owned_flow_row(conn, user_id, flow_id)
    async with conn.execute(
        "SELECT job_id FROM flow_jobs WHERE flow_id = ? AND status = ? LIMIT 1",
        (flow_id, JobState.ACTIVE.value),
    ) as cursor:
        active = await cursor.fetchone()
    if active is not None:
        raise Conflict(
            f"flow {flow_id!r} has a running job ({active['job_id']!r}); "
            "cancel it or wait for it to finish before deleting the flow",
            code="flow_active",
        )
    await conn.execute("DELETE FROM flows WHERE id = ?", (flow_id,))
    await append_event(conn, EventType.FLOW_DELETED, flow_id, user_id, {"id": flow_id}, now)


def _duplicate_conflict(job_id: str) -> Conflict:
    return Conflict(f"a job with jobId {job_id!r} already exists", code="duplicate_job_id")


def new_flow(
    user_id: str,
    flow_id: str,
    name: str,
    jobs: list[Job],
    metadata: Mapping[str, MetaValue] | None = None,
) -> Flow:
    """The record of a new flow over ``jobs`` (root first, as ``flatten`` makes them)."""
    if not jobs or jobs[0].parent_id is not None:
        raise ValueError("jobs must start with the root job")
    root = jobs[0]
    if any(job.flow_id != flow_id for job in jobs):
        raise ValueError("every job must belong to the flow being created")
    return Flow(
        id=flow_id,
        name=name,
        user_id=user_id,
        status=FlowStatus.ACTIVE,
        root_job_id=root.job_id,
        created_at=root.created_at,
        updated_at=root.created_at,
        counts=dict(Counter(job.status.value for job in jobs)),
        metadata=dict(metadata or {}),
    )


async def insert_flow(
    conn: aiosqlite.Connection, flow: Flow, jobs: list[Job], rows: list[JobRow]
) -> None:
    """Insert ``flow`` and its jobs (``rows``: ``jobs_to_rows(jobs)``) with the
    ``flow:created`` event and the terms it can be found by (its metadata
    pairs and task names, see ``search.py``), in the caller's transaction."""
    terms = [("meta", key, meta_text(value)) for key, value in flow.metadata.items()]
    terms += [("task", task, "") for task in sorted({job.name for job in jobs})]
    chosen = [job.job_id for job in jobs if job.opts.job_id is not None]
    # Checked first because a failed executemany leaves its earlier rows
    # in the transaction, where a lookup could no longer tell them apart.
    taken = await _existing_job_ids(conn, chosen)
    if taken:
        raise _duplicate_conflict(min(taken))
    async with conn.execute(
        "INSERT INTO flows (id, name, user_id, status, root_job_id, created_at, "
        "updated_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (flow.id, flow.name, flow.user_id, flow.status.value, flow.root_job_id,
         flow.created_at, flow.updated_at, dumps(flow.metadata) if flow.metadata else None),
    ) as inserted:  # fmt: skip
        seq = inserted.lastrowid
    await conn.executemany(
        "INSERT INTO flow_terms (user_id, kind, key, value, created_at, flow_seq) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(flow.user_id, kind, key, value, flow.created_at, seq) for kind, key, value in terms],
    )
    try:
        await conn.executemany(INSERT_JOB, rows)
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        repeated = [j for j, n in Counter(job.job_id for job in jobs).items() if n > 1]
        if not repeated:  # a generated id met a stored one: vanishingly rare
            raise Conflict(str(exc), code="duplicate_job_id") from exc
        raise _duplicate_conflict(min(repeated)) from exc
    await append_event(
        conn, EventType.FLOW_CREATED, flow.id, flow.user_id, flow_payload(flow), flow.created_at
    )


class FlowQueries:
    """Flow and job reads and writes; mixed into :class:`backend.store.store.Store`."""

    db: Database
    clock: Callable[[], int]

    async def create_flow(
        self,
        user_id: str,
        flow_id: str,
        name: str,
        jobs: list[Job],
        metadata: Mapping[str, MetaValue] | None = None,
    ) -> Flow:
        """Store a flow and its whole tree in one transaction, with its
        ``flow:created`` event and the terms it can be found by (its metadata
        pairs and task names, see ``search.py``).

        ``jobs`` come from :func:`backend.domain.tree.flatten`: root first, all
        of ``flow_id``; the flow's times are the root's. Raises Conflict
        (``duplicate_job_id``) and stores nothing if a job id is taken.
        """
        flow = new_flow(user_id, flow_id, name, jobs, metadata)
        # Encoding is CPU work: do it before taking the write lock.
        rows = jobs_to_rows(jobs)
        async with self.db.transaction() as conn:
            await insert_flow(conn, flow, jobs, rows)
        return flow

    async def existing_job_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Which of ``job_ids`` are already used by a stored job (of any user)."""
        async with self.db.read() as conn:
            return await _existing_job_ids(conn, job_ids)

    async def get_flow(self, user_id: str, flow_id: str) -> Flow:
        """The user's flow with its job counts. NotFound if absent or not theirs."""
        async with self.db.read() as conn:
            row = await _owned_flow_row(conn, user_id, flow_id)
            counts = await flow_counts_of(conn, [flow_id])
        return row_to_flow(row, counts.get(flow_id))

    async def list_jobs(self, user_id: str, flow_id: str) -> list[Job]:
        """Every job of the user's flow, by depth then creation order. NotFound."""
        async with self.db.read() as conn:
            await _owned_flow_row(conn, user_id, flow_id)
            async with conn.execute(
                "SELECT * FROM flow_jobs WHERE flow_id = ? ORDER BY depth, rowid", (flow_id,)
            ) as cursor:
                rows = await cursor.fetchall()
        return rows_to_jobs(rows)

    async def get_job(self, user_id: str, job_id: str) -> Job:
        """The job with this ``jobId`` in one of the user's flows. NotFound."""
        async with self.db.read() as conn:
            return row_to_job(await _owned_job_row(conn, user_id, job_id))

    async def job_logs(self, user_id: str, job_id: str) -> list[JobLog]:
        """The log lines of the user's job, oldest first. NotFound."""
        async with self.db.read() as conn:
            await _owned_job_row(conn, user_id, job_id)
            async with conn.execute(
                "SELECT attempt, message, created_at FROM job_logs WHERE job_id = ? ORDER BY id",
                (job_id,),
            ) as cursor:
                rows = await cursor.fetchall()
        return [row_to_job_log(row) for row in rows]

    async def delete_flow(self, user_id: str, flow_id: str) -> None:
        """Delete the user's flow with its jobs and logs, and append ``flow:deleted``.

        NotFound if absent or not theirs; Conflict (``flow_active``) while any
        of its jobs is running, because its worker would report on a job that
        no longer exists.
        """
        async with self.db.transaction() as conn:
            await delete_owned_flow(conn, user_id, flow_id, self.clock())

    async def delete_flows(
        self, user_id: str, flow_ids: Sequence[str]
    ) -> list[tuple[str, ClientError | None]]:
        """:meth:`delete_flow` for each of ``flow_ids`` in one transaction: each
        flow's outcome is None (deleted) or the error the single call raises."""
        outcomes: list[tuple[str, ClientError | None]] = []
        async with self.db.transaction() as conn:
            now = self.clock()
            for flow_id in flow_ids:
                try:
                    await delete_owned_flow(conn, user_id, flow_id, now)
                except (NotFound, Conflict) as exc:
                    outcomes.append((flow_id, exc))
                else:
                    outcomes.append((flow_id, None))
        return outcomes

    async def flow_counts(self) -> dict[str, int]:
        """Flows per state, every user's (the states no flow is in are absent)."""
        async with (
            self.db.read() as conn,
            conn.execute("SELECT status, count(*) AS n FROM flows GROUP BY status") as cursor,
        ):
            return {row["status"]: row["n"] async for row in cursor}

    async def queue_counts(self, queues: Sequence[str]) -> dict[str, dict[str, int]]:
        """Job counts per state for each of ``queues`` (every queue and state present).

        Counts cover every user's jobs: a queue is shared by all of them.
        """
        counts = {queue: {state.value: 0 for state in JobState} for queue in queues}
        async with (
            self.db.read() as conn,
            conn.execute(
                "SELECT status, queue_name, count(*) AS n FROM flow_jobs "
                "GROUP BY status, queue_name"
            ) as cursor,
        ):
            async for row in cursor:
                if row["queue_name"] in counts:
                    counts[row["queue_name"]][row["status"]] = row["n"]
        return counts
