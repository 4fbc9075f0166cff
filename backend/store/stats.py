"""The outcomes of the jobs that finished in a time window, read from the event log.

Every change of a job appends its ``flow:job:updated`` event (with the job's
``FlowJobResponse``) in the same transaction, and the log is indexed by
time (``events_created``); so "what finished in the last hour" is a range
read of that index, however many jobs the database holds, without a new
column or index on the jobs table. A job reported finished twice with the
same outcome and time (a replayed change) counts once. The window is
bounded by the log's retention (``events_retention_days``).
"""

from __future__ import annotations

from datetime import datetime

from backend.domain.models import JobState
from backend.domain.stats import Outcome, TaskStats, task_stats
from backend.store.db import Database

OUTCOMES_SQL = (
    "SELECT DISTINCT json_extract(payload, '$.jobId') AS job_id, "
    "json_extract(payload, '$.name') AS name, "
    "json_extract(payload, '$.status') AS status, "
    "json_extract(payload, '$.startedAt') AS started, "
    "json_extract(payload, '$.finishedAt') AS finished "
    "FROM events WHERE created_at >= ? AND type = 'flow:job:updated' "
    "AND json_extract(payload, '$.status') IN ('completed', 'failed')"
)


def _ms(iso: object) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None


class StatsQueries:
    db: Database

    async def task_stats(self, since_ms: int) -> list[TaskStats]:
        """Per task name, the jobs that finished at or after ``since_ms`` (every user's)."""
        outcomes = []
        async with self.db.read() as conn, conn.execute(OUTCOMES_SQL, (since_ms,)) as cursor:
            async for row in cursor:
                start, end = _ms(row["started"]), _ms(row["finished"])
                duration = end - start if start is not None and end is not None else None
                failed = row["status"] == JobState.FAILED.value
                outcomes.append(Outcome(str(row["name"]), failed, duration))
        return task_stats(outcomes)
