"""The soak's verdict, from the database and from the tasks' own run records.

Run after the backend stopped: it reads the SQLite file (queries only) and
the ``SOAK_RUNS`` file the tasks appended to. Each broken promise becomes one
line in ``Verdict.violations``; an empty list is a pass.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.schemas import FlowJobResponse
from backend.store.rows import row_to_job
from tests.soak.plan import FlowPlan
from tests.spans import max_overlap


@dataclass
class Verdict:
    flows: int = 0
    jobs: int = 0
    runs: int = 0
    reruns: int = 0  # jobs that ran to success more than once (at-least-once at work)
    stalls: int = 0  # attempts the backend saw lost to a dead worker
    statuses: Counter[str] = field(default_factory=Counter)
    limit_exempt: int = 0  # limited queue's runs not counted: repeats, or just after a Redis loss
    violations: list[str] = field(default_factory=list)


def read_runs(path: Path) -> dict[str, list[dict[str, Any]]]:
    by_job: dict[str, list[dict[str, Any]]] = {}
    if not path.exists():
        return by_job
    for line in path.read_text().splitlines():
        run = json.loads(line)
        by_job.setdefault(run["job"], []).append(run)
    return by_job


def _rows(conn: sqlite3.Connection, sql: str, *args: object) -> list[sqlite3.Row]:
    return list(conn.execute(sql, args))


def check_flows(conn: sqlite3.Connection, plans: list[FlowPlan], verdict: Verdict) -> None:
    for plan in plans:
        row = conn.execute(
            "SELECT f.id, f.status, j.result, f.stuck_reason FROM flow_jobs j "
            "JOIN flows f ON f.id = j.flow_id WHERE j.job_id = ?",
            (plan.key,),
        ).fetchone()
        if row is None:
            verdict.violations.append(f"flow {plan.key} ({plan.shape}) was never stored")
            continue
        verdict.statuses[row["status"]] += 1
        if row["status"] != plan.status:
            verdict.violations.append(
                f"flow {plan.key} ({plan.shape}) is {row['status']}, expected {plan.status}"
                + (f" (stuck: {row['stuck_reason']})" if row["stuck_reason"] else "")
            )
        elif plan.value is not None and json.loads(row["result"]) != plan.value:
            verdict.violations.append(
                f"flow {plan.key}: root result {row['result']}, expected {plan.value}"
            )
        (count,) = conn.execute(
            "SELECT count(*) FROM flow_jobs WHERE flow_id = ?", (row["id"],)
        ).fetchone()
        if count != plan.jobs:
            verdict.violations.append(f"flow {plan.key} has {count} jobs, expected {plan.jobs}")


def check_completions(conn: sqlite3.Connection, verdict: Verdict) -> None:
    twice = _rows(
        conn,
        "SELECT json_extract(payload, '$.jobId') AS job, count(*) AS n FROM events "
        "WHERE type = 'flow:job:updated' AND json_extract(payload, '$.status') = 'completed' "
        "GROUP BY job HAVING n > 1",
    )
    for row in twice:
        verdict.violations.append(f"completion of job {row['job']} recorded {row['n']} times")
    (events,) = conn.execute(
        "SELECT count(DISTINCT json_extract(payload, '$.jobId')) FROM events "
        "WHERE type = 'flow:job:updated' AND json_extract(payload, '$.status') = 'completed'"
    ).fetchone()
    (completed,) = conn.execute(
        "SELECT count(*) FROM flow_jobs WHERE status = 'completed'"
    ).fetchone()
    if events != completed:
        verdict.violations.append(
            f"{completed} jobs completed but {events} have a completion event"
        )


def check_runs(
    conn: sqlite3.Connection, runs: dict[str, list[dict[str, Any]]], verdict: Verdict
) -> None:
    """From the tasks' side: every completion ran, no parent ran before its children."""
    jobs = {row["job_id"]: row for row in _rows(conn, "SELECT * FROM flow_jobs")}
    verdict.jobs = len(jobs)
    verdict.runs = sum(len(r) for r in runs.values())
    verdict.stalls = sum(int(row["stalls"]) for row in jobs.values())
    for job_id, row in jobs.items():
        mine = runs.get(job_id, [])
        ok = [r for r in mine if r["ok"]]
        if len(ok) > 1:
            verdict.reruns += 1
        if row["status"] == "completed" and not ok:
            verdict.violations.append(f"job {job_id} is completed but no run of it succeeded")
        if row["parent_id"] is None:
            continue
        parent_runs = runs.get(row["parent_id"], [])
        if not parent_runs:
            continue
        finishing = ok if row["status"] == "completed" else [r for r in mine if not r["ok"]]
        if not finishing:
            verdict.violations.append(
                f"parent {row['parent_id']} ran but its child {job_id} ({row['status']}) never "
                "finished a run"
            )
            continue
        first_start = min(r["start"] for r in parent_runs)
        child_done = min(r["end"] for r in finishing)
        if first_start < child_done:
            verdict.violations.append(
                f"parent {row['parent_id']} started {child_done - first_start:.3f}s before "
                f"its child {job_id} finished"
            )


def check_event_log(conn: sqlite3.Connection, verdict: Verdict) -> None:
    """Every job's last ``flow:job:updated`` event shows the job exactly as stored.

    A job that never changed since it was created has no such event (its
    ``updatedAt`` is still its ``createdAt``); any other job's last event must
    match, or a change was written without its event (a websocket client
    never told, a replay that disagrees with the store).
    """
    last: dict[str, Any] = {}
    for row in conn.execute(
        "SELECT payload FROM events WHERE type = 'flow:job:updated' ORDER BY seq"
    ):
        payload = json.loads(row["payload"])
        last[payload["jobId"]] = payload
    for row in conn.execute("SELECT * FROM flow_jobs"):
        stored = FlowJobResponse.of(row_to_job(row)).model_dump(mode="json", by_alias=True)
        logged = last.get(row["job_id"])
        if logged is None and stored["updatedAt"] == stored["createdAt"]:
            continue
        if logged != stored:
            differ = sorted(k for k in stored if logged is None or logged.get(k) != stored[k])
            verdict.violations.append(
                f"job {row['job_id']}: the event log disagrees with the store on {differ}"
            )


REDIS_LOSS_WINDOW_S = 5.0


def check_limit(
    conn: sqlite3.Connection,
    runs: dict[str, list[dict[str, Any]]],
    limit: tuple[str, int],
    verdict: Verdict,
    redis_losses: list[float],
) -> None:
    """The limited queue never ran more than its concurrency at once (from the
    runs that reached their end: a run a kill cut short left no record).

    Left out, and counted: a second run of the same attempt (at-least-once
    delivery: the broker handed the same message out again, which no send of
    the backend decided), and runs that start within
    :data:`REDIS_LOSS_WINDOW_S` of Redis losing its contents (the backend
    then sends every unfinished job again, and a copy a worker had already
    taken still runs beside the new one). docs/flow-control.md says both.
    Worker and backend kills are not exempt.
    """
    queue, concurrency = limit
    jobs = [
        row[0]
        for row in conn.execute("SELECT job_id FROM flow_jobs WHERE queue_name = ?", (queue,))
    ]
    timed = [(r["start"], r["end"], job, r["attempt"]) for job in jobs for r in runs.get(job, [])]
    timed.sort()
    first: set[tuple[str, int]] = set()
    kept = []
    for run in timed:
        again = (run[2], run[3]) in first
        first.add((run[2], run[3]))
        after_loss = any(0 <= run[0] - lost <= REDIS_LOSS_WINDOW_S for lost in redis_losses)
        if not again and not after_loss:
            kept.append(run)
    verdict.limit_exempt = len(timed) - len(kept)
    timed = kept
    peak = max_overlap((start, end) for start, end, _job, _attempt in timed)
    if peak > concurrency:
        at = max((t[0] for t in timed), key=lambda x: sum(1 for o in timed if o[0] <= x < o[1]))
        together = sorted((j, a, round(s, 3), round(e, 3)) for s, e, j, a in timed if s <= at < e)
        verdict.violations.append(
            f"queue {queue} ran {peak} jobs at once; its concurrency is {concurrency}: {together}"
        )


def check(
    db: Path,
    runs_file: Path,
    plans: list[FlowPlan],
    limit: tuple[str, int] | None = None,
    redis_losses: list[float] | None = None,
) -> Verdict:
    verdict = Verdict(flows=len(plans))
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        (integrity,) = conn.execute("PRAGMA integrity_check").fetchone()
        if integrity != "ok":
            verdict.violations.append(f"PRAGMA integrity_check: {integrity}")
        check_flows(conn, plans, verdict)
        check_completions(conn, verdict)
        runs = read_runs(runs_file)
        check_runs(conn, runs, verdict)
        if limit is not None:
            check_limit(conn, runs, limit, verdict, redis_losses or [])
        check_event_log(conn, verdict)
    finally:
        conn.close()
    return verdict
