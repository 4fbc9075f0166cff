"""Rows <-> domain records: the one place that knows the column layout.

JSON-valued columns (``data``, ``opts``, ``result``, ``error``, ``children``,
``progress``) hold compact JSON text; a JSON ``null`` is stored as SQL
``NULL``. ``opts`` holds :meth:`JobOptions.to_json`, and ``priority`` mirrors
``opts.priority`` so the outbox index can order by it. The store's modules
and ``execution.py`` both read and write jobs through these helpers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping

from backend.domain.models import (
    JSON,
    Flow,
    FlowStatus,
    Job,
    JobLog,
    JobOptions,
    JobState,
    StuckInfo,
    User,
)

JOB_COLUMNS = (
    "id",
    "job_id",
    "flow_id",
    "parent_id",
    "name",
    "queue_name",
    "data",
    "opts",
    "status",
    "result",
    "error",
    "children",
    "attempts_made",
    "retry_base",
    "stalls",
    "progress",
    "priority",
    "depth",
    "run_at",
    "dispatched",
    "worker_id",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "concurrency_key",
    "held_by",
)
# Built from the constant column list above, never from input.
INSERT_JOB = (
    f"INSERT INTO flow_jobs ({', '.join(JOB_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in JOB_COLUMNS)})"
)

JobRow = tuple[object, ...]


# One encoder for every call: ``json.dumps`` with non-default arguments builds
# a new encoder each time, which is a third of the cost of encoding a big tree.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: JSON) -> str:
    return _ENCODE(value)


def dumps_nullable(value: JSON) -> str | None:
    return None if value is None else dumps(value)


def loads_nullable(text: str | None) -> JSON:
    return None if text is None else json.loads(text)


def job_to_row(job: Job, opts_json: str | None = None) -> JobRow:
    """The values of :data:`JOB_COLUMNS` for ``job``, in that order.

    ``opts_json`` is ``job.opts`` already encoded, if the caller has it.
    """
    return (
        job.id,
        job.job_id,
        job.flow_id,
        job.parent_id,
        job.name,
        job.queue_name,
        dumps_nullable(job.data),
        dumps(job.opts.to_json()) if opts_json is None else opts_json,
        job.status.value,
        dumps_nullable(job.result),
        dumps_nullable(job.error),
        dumps(list(job.children)) if job.children else "[]",
        job.attempts_made,
        job.retry_base,
        job.stalls,
        dumps_nullable(job.progress),
        job.opts.priority,
        job.depth,
        job.run_at,
        int(job.dispatched),
        job.worker_id,
        job.created_at,
        job.updated_at,
        job.started_at,
        job.finished_at,
        job.opts.concurrency_key,
        job.held_by,
    )


def jobs_to_rows(jobs: Iterable[Job]) -> list[JobRow]:
    """Rows for many jobs; options shared by many jobs (the usual case) are
    encoded once."""
    encoded: dict[JobOptions, str] = {}
    rows = []
    for job in jobs:
        opts_json = encoded.get(job.opts)
        if opts_json is None:
            opts_json = encoded[job.opts] = dumps(job.opts.to_json())
        rows.append(job_to_row(job, opts_json))
    return rows


def row_to_job(row: sqlite3.Row, opts: JobOptions | None = None) -> Job:
    """A ``flow_jobs`` row (``SELECT *`` or at least :data:`JOB_COLUMNS`) as a :class:`Job`.

    ``opts`` is the decoded ``opts`` column, if the caller has it.
    """
    children = row["children"]
    return Job(
        id=row["id"],
        job_id=row["job_id"],
        flow_id=row["flow_id"],
        parent_id=row["parent_id"],
        name=row["name"],
        queue_name=row["queue_name"],
        data=loads_nullable(row["data"]),
        opts=JobOptions.from_json(json.loads(row["opts"])) if opts is None else opts,
        status=JobState(row["status"]),
        children=() if children == "[]" else tuple(json.loads(children)),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        result=loads_nullable(row["result"]),
        error=loads_nullable(row["error"]),
        attempts_made=row["attempts_made"],
        retry_base=row["retry_base"],
        stalls=row["stalls"],
        progress=loads_nullable(row["progress"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        run_at=row["run_at"],
        dispatched=bool(row["dispatched"]),
        worker_id=row["worker_id"],
        depth=row["depth"],
        held_by=row["held_by"],
    )


def rows_to_jobs(rows: Iterable[sqlite3.Row]) -> list[Job]:
    """Jobs for many rows; equal ``opts`` texts are decoded once (the records
    are frozen, so sharing one :class:`JobOptions` is safe)."""
    decoded: dict[str, JobOptions] = {}
    jobs = []
    for row in rows:
        text = row["opts"]
        opts = decoded.get(text)
        if opts is None:
            opts = decoded[text] = JobOptions.from_json(json.loads(text))
        jobs.append(row_to_job(row, opts))
    return jobs


def row_to_flow(row: sqlite3.Row, counts: Mapping[str, int] | None = None) -> Flow:
    """A ``flows`` row as a :class:`Flow`; ``counts`` maps job state values to numbers."""
    stuck = (
        None
        if row["stuck_job_id"] is None
        else StuckInfo(job_id=row["stuck_job_id"], reason=row["stuck_reason"] or "")
    )
    return Flow(
        id=row["id"],
        name=row["name"],
        user_id=row["user_id"],
        status=FlowStatus(row["status"]),
        root_job_id=row["root_job_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        counts=dict(counts or {}),
        stuck=stuck,
        finished_at=row["finished_at"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
    )


def row_to_user(row: sqlite3.Row) -> User:
    return User(id=row["id"], name=row["name"], created_at=row["created_at"])


def row_to_job_log(row: sqlite3.Row) -> JobLog:
    return JobLog(attempt=row["attempt"], message=row["message"], created_at=row["created_at"])
