"""Deleting finished flows past their retention, a batch per transaction.

Only flows whose status is one of a rule's finished statuses and that have a
finish time are ever selected, and a flow with a job still ``active`` (a
cancelled flow whose worker has not answered yet) is left for a later pass,
exactly as ``DELETE /flows/{id}`` refuses it. Each deleted flow gets its
``flow:deleted`` event in the transaction that deletes it, so websocket
clients drop it like any other deletion. Both reads walk the
``flows_status_finished`` index, oldest finish first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

from backend.domain.models import FlowStatus, JobState
from backend.domain.search import FINISHED_STATUSES, RetentionRule
from backend.store.db import Database
from backend.store.events import EventType, append_event
from backend.store.rows import dumps

_EXPIRED = (
    "SELECT seq, id, user_id, finished_at FROM flows "
    "WHERE status = ? AND finished_at IS NOT NULL AND finished_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM flow_jobs j WHERE j.flow_id = flows.id AND j.status = ?) "
    "ORDER BY finished_at LIMIT ?"
)


@dataclass(frozen=True)
class Expired:
    seq: int
    id: str
    user_id: str
    finished_at: int


class RetentionQueries:
    """Retention's reads and deletes; mixed into :class:`backend.store.store.Store`."""

    db: Database
    clock: Callable[[], int]

    async def retention_cutoff(self, rule: RetentionRule, now: int) -> int | None:
        """The finish time before which the rule's flows are past retention
        (None: none are). By count, the ``max_count``-th newest finish is kept
        with everything after it, ties included."""
        cutoffs = []
        if rule.max_age_ms is not None:
            cutoffs.append(now - rule.max_age_ms)
        if rule.max_count is not None:
            newest: list[int] = []
            async with self.db.read() as conn:
                for status in rule.statuses:
                    async with conn.execute(
                        "SELECT finished_at FROM flows WHERE status = ? "
                        "AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
                        (FlowStatus(status).value, rule.max_count),
                    ) as cursor:
                        newest += [row[0] for row in await cursor.fetchall()]
            if len(newest) >= rule.max_count:
                cutoffs.append(heapq.nlargest(rule.max_count, newest)[-1])
        return max(cutoffs) if cutoffs else None

    async def expired_flows(
        self, statuses: tuple[FlowStatus, ...], cutoff: int, limit: int
    ) -> list[Expired]:
        """Up to ``limit`` flows of ``statuses`` that finished before ``cutoff``, oldest first."""
        async with self.db.read() as conn:
            return await _expired(conn, statuses, cutoff, limit)

    async def prune_flows(
        self, statuses: tuple[FlowStatus, ...], cutoff: int, limit: int
    ) -> list[Expired]:
        """Delete up to ``limit`` of :meth:`expired_flows` in one transaction,
        with a ``flow:deleted`` event each; return them."""
        async with self.db.transaction() as conn:
            expired = await _expired(conn, statuses, cutoff, limit)
            if expired:
                await conn.execute(
                    "DELETE FROM flows WHERE seq IN (SELECT value FROM json_each(?))",
                    (dumps([flow.seq for flow in expired]),),
                )
                now = self.clock()
                for flow in expired:
                    await append_event(
                        conn, EventType.FLOW_DELETED, flow.id, flow.user_id, {"id": flow.id}, now
                    )
        return expired


async def _expired(
    conn: aiosqlite.Connection, statuses: tuple[FlowStatus, ...], cutoff: int, limit: int
) -> list[Expired]:
    found: list[Expired] = []
    for status in statuses:
        if FlowStatus(status) not in FINISHED_STATUSES:
            raise ValueError(f"retention never deletes {status} flows")
        async with conn.execute(
            _EXPIRED, (FlowStatus(status).value, cutoff, JobState.ACTIVE.value, limit)
        ) as cursor:
            found += [Expired(*row) for row in await cursor.fetchall()]
    found.sort(key=lambda flow: flow.finished_at)
    return found if limit < 0 else found[:limit]
