"""The schedule queries are answered from indexes (as ``test_store_plans``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import aiosqlite

from backend.domain.models import Flow, User
from backend.domain.schedules import CatchUp, Overlap, Schedule, Timing
from backend.store import schedules
from backend.store.store import Store
from tests.backend.store.store_helpers import make_flow
from tests.backend.store.test_store_plans import plan, unindexed


async def test_schedule_queries_use_their_indexes(
    alice: User, ids: Callable[[], str], store: Store
) -> None:
    await make_flow(store, alice, "flow-1", ids)
    now = store.clock()
    schedule = Schedule(
        id="s1",
        user_id=alice.id,
        name="s",
        timing=Timing(None, 2000, "UTC", now),
        flow={"name": "x", "queueName": "jobQueue"},
        overlap=Overlap.SKIP,
        catch_up=CatchUp.ONCE,
        paused=False,
        next_run_at=now - 1,
        created_at=now,
        updated_at=now,
        last_flow_id="flow-1",
    )
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    await store.put_schedule(schedule)
    await store.put_schedule(dataclasses.replace(schedule, id="s2", paused=True))
    await store.list_schedules(alice.id)
    await store.get_schedule(alice.id, "s1")
    await store.update_schedule(alice.id, "s1", lambda s: s)

    async def no_flow(_conn: aiosqlite.Connection, _s: Schedule, _planned: int) -> Flow | None:
        return None

    fired = await schedules.fire_due(store.db, now, no_flow)
    async with store.db.read() as conn:
        await schedules.next_due(conn)
    await store.delete_schedule(alice.id, "s2")
    await store.db.set_trace_callback(lambda _sql: None)

    assert [(f.schedule_id, f.skipped) for f in fired] == [("s1", "overlap")]  # flow-1 is active
    queries = sorted(
        {s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))}
    )
    assert len(queries) >= 6
    assert unindexed(store.db.path, queries) == {}
    due = [q for q in queries if "next_run_at <=" in q]
    assert due
    for query in due:
        assert any("schedules_due" in line for line in plan(store.db.path, query))


async def test_nothing_due_opens_no_write_transaction(store: Store) -> None:
    """A commit wakes the scheduler; an empty commit of its own would wake it again."""
    commits: list[None] = []
    store.db.commit_listeners.append(lambda: commits.append(None))

    async def never(_conn: aiosqlite.Connection, _s: Schedule, _planned: int) -> Flow | None:
        raise AssertionError("nothing is due")

    assert await schedules.fire_due(store.db, store.clock(), never) == []
    assert commits == []
