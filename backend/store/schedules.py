"""Scheduled flows in SQLite: the schedules, and the firing of a due tick.

A due tick's flow is inserted and the schedule moved to its next tick in one
transaction (:func:`fire_due`), so after any crash the tick either fired and
moved on, or did neither and fires once on start. The decision is
``backend.domain.schedules.decide``; this module reads and writes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiosqlite

from backend.domain.models import Flow
from backend.domain.schedules import CatchUp, Overlap, Schedule, Timing, decide
from backend.errors import NotFound
from backend.store.db import Database
from backend.store.rows import dumps

_COLUMNS = (
    "id, user_id, name, cron, every_ms, timezone, flow, overlap, catch_up, paused, "
    "next_run_at, last_run_at, last_flow_id, created_at, updated_at"
)


def _row(row: aiosqlite.Row) -> Schedule:
    return Schedule(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        timing=Timing(row["cron"], row["every_ms"], row["timezone"], row["created_at"]),
        flow=json.loads(row["flow"]),
        overlap=Overlap(row["overlap"]),
        catch_up=CatchUp(row["catch_up"]),
        paused=bool(row["paused"]),
        next_run_at=row["next_run_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_run_at=row["last_run_at"],
        last_flow_id=row["last_flow_id"],
    )


def _values(s: Schedule) -> tuple[object, ...]:
    return (
        s.id, s.user_id, s.name, s.timing.cron, s.timing.every_ms, s.timing.timezone,
        dumps(s.flow), s.overlap.value, s.catch_up.value, int(s.paused), s.next_run_at,
        s.last_run_at, s.last_flow_id, s.created_at, s.updated_at,
    )  # fmt: skip


async def save_schedule(conn: aiosqlite.Connection, schedule: Schedule) -> None:
    """Insert or replace the whole row."""
    await conn.execute(
        f"INSERT OR REPLACE INTO schedules ({_COLUMNS}) "  # noqa: S608 - constant columns
        f"VALUES ({', '.join('?' for _ in _COLUMNS.split(', '))})",
        _values(schedule),
    )


async def load_schedule(conn: aiosqlite.Connection, user_id: str, schedule_id: str) -> Schedule:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM schedules WHERE id = ? AND user_id = ?",  # noqa: S608
        (schedule_id, user_id),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no schedule with id {schedule_id!r}", code="schedule_not_found")
    return _row(row)


async def due(conn: aiosqlite.Connection, now: int, limit: int) -> list[Schedule]:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM schedules "  # noqa: S608
        "WHERE paused = 0 AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
        (now, limit),
    ) as cursor:
        return [_row(row) for row in await cursor.fetchall()]


async def next_due(conn: aiosqlite.Connection) -> int | None:
    async with conn.execute("SELECT min(next_run_at) FROM schedules WHERE paused = 0") as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


async def flow_statuses(conn: aiosqlite.Connection, flow_ids: Sequence[str]) -> dict[str, str]:
    async with conn.execute(
        "SELECT id, status FROM flows WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(flow_ids)),),
    ) as cursor:
        return {row[0]: row[1] async for row in cursor}


@dataclass(frozen=True)
class Fired:
    schedule_id: str
    planned: int | None
    flow: Flow | None
    skipped: str | None


async def fire_due(
    db: Database,
    now: int,
    make_flow: Callable[[aiosqlite.Connection, Schedule, int], Awaitable[Flow | None]],
    limit: int = 100,
) -> list[Fired]:
    """Fire every due schedule (at most ``limit``) in one transaction: create
    each tick's flow with ``make_flow(conn, schedule, planned)`` (None: the
    tick is skipped as ``invalid``) and move each schedule to its next tick."""
    # A read first: nothing due opens no write transaction (whose commit would
    # wake every commit listener, this scheduler included, for nothing).
    async with db.read() as conn:
        if not await due(conn, now, 1):
            return []
    fired: list[Fired] = []
    async with db.transaction() as conn:
        schedules = await due(conn, now, limit)
        if not schedules:
            return []
        last = [s.last_flow_id for s in schedules if s.last_flow_id is not None]
        statuses = await flow_statuses(conn, last)
        for schedule in schedules:
            firing = decide(
                schedule.timing,
                due=schedule.next_run_at,
                now=now,
                overlap=schedule.overlap,
                catch_up=schedule.catch_up,
                last_active=statuses.get(schedule.last_flow_id or "") == "active",
            )
            flow = None
            skipped = firing.skipped
            if firing.planned is not None:
                flow = await make_flow(conn, schedule, firing.planned)
                skipped = "invalid" if flow is None else None
            if flow is not None:
                await conn.execute(
                    "UPDATE schedules SET next_run_at = ?, last_run_at = ?, last_flow_id = ?, "
                    "updated_at = ? WHERE id = ?",
                    (firing.next_run_at, firing.planned, flow.id, now, schedule.id),
                )
            else:
                await conn.execute(
                    "UPDATE schedules SET next_run_at = ?, updated_at = ? WHERE id = ?",
                    (firing.next_run_at, now, schedule.id),
                )
            fired.append(Fired(schedule.id, firing.planned, flow, skipped))
    return fired


class ScheduleQueries:
    """The :class:`~backend.store.store.Store` methods for schedules."""

    db: Database
    clock: Callable[[], int]

    async def put_schedule(self, schedule: Schedule) -> Schedule:
        async with self.db.transaction() as conn:
            await save_schedule(conn, schedule)
        return schedule

    async def get_schedule(self, user_id: str, schedule_id: str) -> Schedule:
        async with self.db.read() as conn:
            return await load_schedule(conn, user_id, schedule_id)

    async def update_schedule(
        self, user_id: str, schedule_id: str, change: Callable[[Schedule], Schedule]
    ) -> Schedule:
        async with self.db.transaction() as conn:
            updated = change(await load_schedule(conn, user_id, schedule_id))
            await save_schedule(conn, updated)
        return updated

    async def list_schedules(self, user_id: str) -> list[Schedule]:
        async with (
            self.db.read() as conn,
            conn.execute(
                f"SELECT {_COLUMNS} FROM schedules WHERE user_id = ? "  # noqa: S608
                "ORDER BY created_at",
                (user_id,),
            ) as cursor,
        ):
            return [_row(row) for row in await cursor.fetchall()]

    async def delete_schedule(self, user_id: str, schedule_id: str) -> None:
        async with self.db.transaction() as conn:
            await load_schedule(conn, user_id, schedule_id)
            await conn.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))

    async def schedule_flow_statuses(self, flow_ids: Sequence[str]) -> dict[str, str]:
        async with self.db.read() as conn:
            return await flow_statuses(conn, flow_ids)

    async def run_schedule_now(
        self,
        user_id: str,
        schedule_id: str,
        make_flow: Callable[[aiosqlite.Connection, Schedule, int], Awaitable[Flow | None]],
    ) -> Flow | None:
        """Create the schedule's flow now (its next tick stays as planned)."""
        now = self.clock()
        async with self.db.transaction() as conn:
            schedule = await load_schedule(conn, user_id, schedule_id)
            flow = await make_flow(conn, schedule, now)
            if flow is not None:
                await conn.execute(
                    "UPDATE schedules SET last_run_at = ?, last_flow_id = ?, updated_at = ? "
                    "WHERE id = ?",
                    (now, flow.id, now, schedule_id),
                )
        return flow
