"""A month of history for the search, bulk and retention benchmarks, written by SQL.

100,000 flows of 10 jobs (1,000,000 jobs) for one user over the last 30 days:
80% completed, 10% failed (a child failed with ``failParentOnFailure``, as
the engine records it), 5% cancelled, 5% still active (their leaves
``delayed`` a year, so nothing is dispatched while the benchmark runs).
Each flow has metadata ``{customer: cN (100 customers), tier: 0-2}`` and
runs the tasks report (the root), fetch, resize, upload and notify. Rows are
generated inside SQLite by recursive CTEs, in the schema's own shape
(``flow_terms`` included), so seeding takes seconds, not the hours a million
jobs through REST would.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

FLOWS = 100_000
JOBS_PER_FLOW = 10
DAY_MS = 86_400_000
TASKS = ("fetch", "resize", "upload", "notify")
ERRORS = ("ValueError", "TimeoutError", "KeyError")

_SERIES = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1) "

# status by i % 20: 0-15 completed, 16-17 failed, 18 cancelled, 19 active
_FLOW_STATUS = (
    "CASE WHEN i % 20 < 16 THEN 'completed' WHEN i % 20 < 18 THEN 'failed' "
    "WHEN i % 20 = 18 THEN 'cancelled' ELSE 'active' END"
)


def failed_flow_ids(count: int) -> list[str]:
    """The ids of the first ``count`` failed flows the seed writes."""
    ids = [flow_id(i) for i in range(FLOWS) if i % 20 in (16, 17)]
    return ids[:count]


def flow_id(i: int) -> str:
    return f"f{i:07d}"


def seed(db: Path, user_id: str, flows: int = FLOWS, now: int | None = None) -> float:
    """Write the history into ``db`` (already migrated, ``user_id`` existing); seconds taken."""
    now = now or int(time.time() * 1000)
    base = now - 30 * DAY_MS
    step = 30 * DAY_MS // flows
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        conn.execute(
            _SERIES + "INSERT INTO flows (seq, id, name, user_id, status, root_job_id, created_at, "
            "updated_at, finished_at, metadata) SELECT i + 1, printf('f%07d', i), "
            "'report-' || (i % 50), ?, " + _FLOW_STATUS + ", printf('j%07d-0', i), "
            "? + i * ?, ? + i * ?, CASE WHEN i % 20 = 19 THEN NULL "
            "ELSE ? + i * ? + 1000 + (i * 7919) % 600000 END, "
            "json_object('customer', 'c' || (i % 100), 'tier', i % 3) FROM n",
            (flows, user_id, base, step, base, step, base, step),
        )
        conn.execute(
            _SERIES + "INSERT INTO flow_jobs (id, job_id, flow_id, parent_id, name, queue_name, "
            "opts, status, error, children, depth, run_at, attempts_made, created_at, "
            "updated_at, started_at, finished_at) "
            "SELECT printf('j%07d-%d', f, k), printf('j%07d-%d', f, k), printf('f%07d', f), "
            "CASE WHEN k = 0 THEN NULL ELSE printf('j%07d-0', f) END, "
            "CASE WHEN k = 0 THEN 'report' ELSE json_extract(?, '$[' || (k % 4) || ']') END, "
            "CASE WHEN k % 2 = 0 THEN 'jobQueue' ELSE 'webhooks' END, "
            "CASE WHEN k = 1 THEN '{\"attempts\":1,\"failParentOnFailure\":true}' "
            "ELSE '{\"attempts\":1}' END, "
            # job status from the flow's status
            "CASE WHEN f % 20 < 16 THEN 'completed' "
            "WHEN f % 20 < 18 THEN CASE WHEN k <= 1 THEN 'failed' ELSE 'completed' END "
            "WHEN f % 20 = 18 THEN CASE WHEN k = 0 THEN 'cancelled' ELSE 'completed' END "
            "ELSE CASE WHEN k = 0 THEN 'waiting-children' ELSE 'delayed' END END, "
            "CASE WHEN f % 20 IN (16, 17) AND k = 1 THEN json_object('type', "
            "json_extract(?, '$[' || (f % 3) || ']'), 'message', 'boom', 'traceback', '') "
            "WHEN f % 20 IN (16, 17) AND k = 0 THEN json_object('type', 'ChildFailed', "
            "'message', 'a child failed', 'traceback', '', 'childJobId', printf('j%07d-1', f)) "
            "END, "
            "CASE WHEN k = 0 THEN (SELECT json_group_array(printf('j%07d-%d', f, c)) FROM "
            "(SELECT 1 AS c UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL "
            "SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL "
            "SELECT 9)) ELSE '[]' END, "
            "CASE WHEN k = 0 THEN 0 ELSE 1 END, "
            "CASE WHEN f % 20 = 19 AND k > 0 THEN ? END, "
            "CASE WHEN f % 20 = 19 THEN 0 ELSE 1 END, "
            "? + f * ?, ? + f * ?, "
            "CASE WHEN f % 20 = 19 THEN NULL ELSE ? + f * ? + 10 END, "
            "CASE WHEN f % 20 = 19 THEN NULL "
            "ELSE ? + f * ? + 1000 + (f * 7919) % 600000 - (10 - k) * 10 END "
            "FROM (SELECT i / ? AS f, i % ? AS k FROM n)",
            (flows * JOBS_PER_FLOW, _json(TASKS), _json(ERRORS), now + 365 * DAY_MS,
             base, step, base, step, base, step, base, step,
             JOBS_PER_FLOW, JOBS_PER_FLOW),
        )  # fmt: skip
        conn.execute(
            _SERIES + "INSERT INTO flow_terms (user_id, kind, key, value, created_at, flow_seq) "
            "SELECT ?, 'meta', 'customer', 'c' || (i % 100), ? + i * ?, i + 1 FROM n "
            "UNION ALL SELECT ?, 'meta', 'tier', CAST(i % 3 AS TEXT), ? + i * ?, i + 1 FROM n "
            "UNION ALL SELECT ?, 'task', t.value, '', ? + i * ?, i + 1 FROM n, json_each(?) t",
            (
                flows,
                user_id,
                base,
                step,
                user_id,
                base,
                step,
                user_id,
                base,
                step,
                _json(("report", *TASKS)),
            ),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


def _json(values: tuple[str, ...]) -> str:
    return "[" + ",".join(f'"{value}"' for value in values) + "]"
