"""Finding flows and jobs across a user's whole history (``GET /flows``, ``GET /jobs``).

The SQL lives in ``search.py``; this module runs it on a read snapshot and
turns rows into records with the position of the next page. Each page is
read in one snapshot, so its job counts agree with its flows.
"""

from __future__ import annotations

from backend.domain.models import Flow, FlowStatus, Job
from backend.domain.search import FlowFilter, JobFilter, Position
from backend.store.db import Database
from backend.store.flows import flow_counts_of
from backend.store.rows import dumps, row_to_flow, row_to_job
from backend.store.search import flow_ids_query, flows_query, jobs_query


class FinderQueries:
    """Searches over flows and jobs; mixed into :class:`backend.store.store.Store`."""

    db: Database

    async def search_flows(
        self, user_id: str, flt: FlowFilter, *, limit: int, after: Position | None = None
    ) -> tuple[list[Flow], Position | None]:
        """A page of the user's flows matching ``flt`` in its sort order, and
        where the next page starts (None on the last page)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        sql, params, _ = flows_query(user_id, flt, after, limit + 1)
        async with self.db.read() as conn:
            async with conn.execute(sql, params) as cursor:
                rows = list(await cursor.fetchall())
            page = rows[:limit]
            counts = await flow_counts_of(conn, [row["id"] for row in page])
        flows = [row_to_flow(row, counts.get(row["id"])) for row in page]
        if len(rows) <= limit:
            return flows, None
        last = page[-1]
        return flows, Position(last["sort_key"], last["seq"])

    async def list_flows(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: Position | None = None,
        status: FlowStatus | None = None,
        search: str | None = None,
    ) -> tuple[list[Flow], Position | None]:
        """A page of the user's flows, newest first, and where the next page
        starts (None on the last page): :meth:`search_flows` by status and name.

        ``search`` matches a case-insensitive (ASCII) substring of the name;
        ``%``, ``_`` and ``\\`` in it are literal.
        """
        flt = FlowFilter(search=search, statuses=() if status is None else (FlowStatus(status),))
        return await self.search_flows(user_id, flt, limit=limit, after=cursor)

    async def matching_flow_ids(self, user_id: str, flt: FlowFilter, limit: int) -> list[str]:
        """The ids of the first ``limit`` of the user's flows matching ``flt``."""
        sql, params = flow_ids_query(user_id, flt, limit)
        async with self.db.read() as conn, conn.execute(sql, params) as cursor:
            return [row["id"] for row in await cursor.fetchall()]

    async def owned_flow_ids(self, user_id: str, flow_ids: list[str]) -> list[str]:
        """Which of ``flow_ids`` are the user's flows, in the order given."""
        async with (
            self.db.read() as conn,
            conn.execute(
                "SELECT id FROM flows WHERE user_id = ? AND id IN (SELECT value FROM json_each(?))",
                (user_id, dumps(flow_ids)),
            ) as cursor,
        ):
            owned = {row["id"] for row in await cursor.fetchall()}
        return [flow_id for flow_id in flow_ids if flow_id in owned]

    async def search_jobs(
        self, user_id: str, flt: JobFilter, *, limit: int, after: Position | None = None
    ) -> tuple[list[Job], Position | None]:
        """A page of jobs across the user's flows: finished ones, most recent
        finish first, then unfinished ones, newest first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        rows = []
        async with self.db.read() as conn:
            if after is None or after.key is not None:
                sql, params = jobs_query(user_id, flt, after, limit + 1, finished=True)
                async with conn.execute(sql, params) as cursor:
                    rows = list(await cursor.fetchall())
            if len(rows) <= limit and not flt.only_finished:
                unfinished_after = after if after is not None and after.key is None else None
                sql, params = jobs_query(
                    user_id, flt, unfinished_after, limit + 1 - len(rows), finished=False
                )
                async with conn.execute(sql, params) as cursor:
                    rows.extend(await cursor.fetchall())
        page = rows[:limit]
        jobs = [row_to_job(row) for row in page]
        if len(rows) <= limit:
            return jobs, None
        last = page[-1]
        return jobs, Position(last["finished_at"], last["job_seq"])
