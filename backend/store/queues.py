"""Queue controls in SQLite: the stored settings, the load they are checked
against, and the marks they leave on held jobs.

The rules (what a control admits) are ``backend.domain.limits``; this module
only reads and writes. Every read that feeds a decision runs inside the
caller's transaction, so the decision and the send it allows are one commit:
two writers (the dispatcher, the event consumer's one-commit hop) can never
both take the last slot. The load is counted from the job rows (sent and
unfinished, on the ``flow_jobs_in_flight`` index) and from ``queue_sends``,
never kept in memory, so a restarted backend enforces the same caps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import aiosqlite

from backend.domain.limits import HeldBy, QueueControls, QueueLoad, RateLimit
from backend.schemas import FlowJobResponse, QueueControlsResponse
from backend.store.db import Database
from backend.store.events import EventType, append_rows
from backend.store.rows import row_to_job

QUEUE_EVENT_FLOW = ""  # queue events belong to no flow; every user receives them


async def load_controls(conn: aiosqlite.Connection) -> dict[str, QueueControls]:
    """Every queue that has a row (a queue without one has no controls)."""
    async with conn.execute("SELECT * FROM queue_controls") as cursor:
        return {row["name"]: _controls(row) async for row in cursor}


def _controls(row: aiosqlite.Row) -> QueueControls:
    rate = None
    if row["rate_max"] is not None and row["rate_duration"] is not None:
        rate = RateLimit(row["rate_max"], row["rate_duration"])
    return QueueControls(
        name=row["name"],
        paused=bool(row["paused"]),
        concurrency=row["concurrency"],
        rate_limit=rate,
        key_concurrency=row["key_concurrency"],
    )


async def save_controls(
    conn: aiosqlite.Connection, controls: QueueControls, user_ids: Iterable[str], now: int
) -> list[int]:
    """Store ``controls`` and append a ``queue:updated`` event for each user
    (a queue is shared by all of them); returns the events' seqs."""
    rate = controls.rate_limit
    await conn.execute(
        "INSERT INTO queue_controls (name, paused, concurrency, rate_max, rate_duration, "
        "key_concurrency, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, "
        "concurrency = excluded.concurrency, rate_max = excluded.rate_max, "
        "rate_duration = excluded.rate_duration, key_concurrency = excluded.key_concurrency, "
        "updated_at = excluded.updated_at",
        (
            controls.name,
            int(controls.paused),
            controls.concurrency,
            None if rate is None else rate.max,
            None if rate is None else rate.duration,
            controls.key_concurrency,
            now,
        ),
    )
    payload = QueueControlsResponse.of(controls).model_dump(mode="json", by_alias=True)
    return await append_rows(
        conn,
        [(EventType.QUEUE_UPDATED, QUEUE_EVENT_FLOW, user, payload) for user in user_ids],
        now,
    )


_IN_FLIGHT = "(status = 'active' OR (status = 'waiting' AND dispatched = 1))"


async def queue_loads(
    conn: aiosqlite.Connection, controls: Mapping[str, QueueControls], now: int
) -> dict[str, QueueLoad]:
    """The load of every controlled queue: jobs holding a slot (per key too)
    and the sends inside each rate window."""
    names = [name for name, queue in controls.items() if queue.controlled]
    if not names:
        return {}
    in_flight: dict[str, int] = dict.fromkeys(names, 0)
    per_key: dict[str, dict[str, int]] = {name: {} for name in names}
    async with conn.execute(
        # INDEXED BY: the planner would otherwise OR two searches of the status
        # index, reading every waiting job, the unsent backlog included.
        "SELECT queue_name, concurrency_key, count(*) AS n "  # noqa: S608
        "FROM flow_jobs INDEXED BY flow_jobs_in_flight "
        f"WHERE {_IN_FLIGHT} AND queue_name IN (SELECT value FROM json_each(?)) "
        "GROUP BY queue_name, concurrency_key",
        (json.dumps(names),),
    ) as cursor:
        async for row in cursor:
            in_flight[row["queue_name"]] += row["n"]
            if row["concurrency_key"] is not None:
                per_key[row["queue_name"]][row["concurrency_key"]] = row["n"]
    sends: dict[str, list[int]] = {}
    for name in names:
        rate = controls[name].rate_limit
        if rate is not None:
            sends[name] = await _window(conn, name, now - rate.duration)
    return {name: QueueLoad(in_flight[name], per_key[name], sends.get(name, ())) for name in names}


async def _window(conn: aiosqlite.Connection, queue: str, after: int) -> list[int]:
    async with conn.execute(
        "SELECT sent_at FROM queue_sends WHERE queue_name = ? AND sent_at > ? ORDER BY sent_at",
        (queue, after),
    ) as cursor:
        return [row[0] async for row in cursor]


async def record_sends(
    conn: aiosqlite.Connection,
    sent: Mapping[str, int],
    controls: Mapping[str, QueueControls],
    now: int,
) -> None:
    """Log the sends of rate-limited queues, and forget sends past every window."""
    rows = [
        (queue, now)
        for queue, count in sent.items()
        if controls[queue].rate_limit is not None
        for _ in range(count)
    ]
    if not rows:
        return
    await conn.executemany("INSERT INTO queue_sends (queue_name, sent_at) VALUES (?, ?)", rows)
    for queue in {queue for queue, _now in rows}:
        rate = controls[queue].rate_limit
        assert rate is not None
        await conn.execute(
            "DELETE FROM queue_sends WHERE queue_name = ? AND sent_at <= ?",
            (queue, now - rate.duration),
        )


async def set_held(
    conn: aiosqlite.Connection, held: Mapping[str, HeldBy | None], now: int
) -> list[tuple[str, str, Any]]:
    """Set ``held_by`` on the jobs whose mark differs; return the
    ``flow:job:updated`` events to append, as ``(flow_id, user_id, payload)``.

    The mark is on the wire (``heldBy``), so it changes with an event, and
    only when it changes: a job held for the same reason again costs nothing.
    """
    if not held:
        return []
    async with conn.execute(
        "SELECT job_id, held_by FROM flow_jobs WHERE job_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(held)),),
    ) as cursor:
        changed = {
            row[0]: held[row[0]]
            async for row in cursor
            if row[1] != (None if held[row[0]] is None else held[row[0]])
        }
    if not changed:
        return []
    await conn.executemany(
        "UPDATE flow_jobs SET held_by = ?, updated_at = ? WHERE job_id = ?",
        [(None if why is None else why.value, now, job_id) for job_id, why in changed.items()],
    )
    async with conn.execute(
        "SELECT f.user_id, j.* FROM flow_jobs j JOIN flows f ON f.id = j.flow_id "
        "WHERE j.job_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(changed)),),
    ) as cursor:
        rows = await cursor.fetchall()
    return [
        (
            row["flow_id"],
            row["user_id"],
            FlowJobResponse.of(row_to_job(row)).model_dump(mode="json", by_alias=True),
        )
        for row in rows
    ]


async def unmarked_held(
    conn: aiosqlite.Connection,
    queues: Mapping[str, HeldBy],
    keys: Collection[tuple[str, str]],
    now: int,
    limit: int,
) -> dict[str, HeldBy]:
    """Ready jobs of blocked queues and keys whose ``held_by`` does not yet say
    why (at most ``limit``): the outbox query skips them, so they are marked
    from here."""
    found: dict[str, HeldBy] = {}
    for queue, why in queues.items():
        found.update(await _unmarked(conn, queue, None, why, now, limit - len(found)))
    for queue, key in keys:
        if len(found) >= limit:
            break
        found.update(
            await _unmarked(conn, queue, key, HeldBy.KEY_CONCURRENCY, now, limit - len(found))
        )
    return found


async def _unmarked(  # noqa: PLR0917
    conn: aiosqlite.Connection,
    queue: str,
    key: str | None,
    why: HeldBy,
    now: int,
    limit: int,
) -> dict[str, HeldBy]:
    if limit <= 0:
        return {}
    async with conn.execute(
        "SELECT job_id FROM flow_jobs INDEXED BY flow_jobs_outbox_queue "
        "WHERE dispatched = 0 AND status IN ('waiting', 'delayed') "
        "AND queue_name = ? AND (? IS NULL OR concurrency_key = ?) "
        "AND (run_at IS NULL OR run_at <= ?) AND held_by IS NOT ? LIMIT ?",
        (queue, key, key, now, why.value, limit),
    ) as cursor:
        return {row[0]: why async for row in cursor}


class QueueQueries:
    """The :class:`~backend.store.store.Store` methods for queue controls."""

    db: Database
    clock: Callable[[], int]

    async def queue_controls(self, names: Iterable[str]) -> dict[str, QueueControls]:
        """The controls of each of ``names`` (none set: the defaults)."""
        async with self.db.read() as conn:
            stored = await load_controls(conn)
        return {name: stored.get(name, QueueControls(name)) for name in names}

    async def update_queue(
        self, name: str, change: Callable[[QueueControls], QueueControls]
    ) -> QueueControls:
        """Apply ``change`` to the queue's controls in one transaction, with a
        ``queue:updated`` event for every user; returns the new controls."""
        now = self.clock()
        async with self.db.transaction() as conn:
            stored = (await load_controls(conn)).get(name, QueueControls(name))
            updated = change(stored)
            async with conn.execute("SELECT id FROM users") as cursor:
                users = [row[0] async for row in cursor]
            await save_controls(conn, updated, users, now)
        return updated


async def sent_not_started(
    conn: aiosqlite.Connection, queues: Collection[str]
) -> dict[str, list[str]]:
    """flow_id -> jobs of ``queues`` whose message is in the broker but not started."""
    if not queues:
        return {}
    found: dict[str, list[str]] = {}
    async with conn.execute(
        "SELECT job_id, flow_id FROM flow_jobs INDEXED BY flow_jobs_in_flight "  # noqa: S608
        f"WHERE {_IN_FLIGHT} AND status = 'waiting' "
        "AND queue_name IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(queues)),),
    ) as cursor:
        async for row in cursor:
            found.setdefault(row["flow_id"], []).append(row["job_id"])
    return found
