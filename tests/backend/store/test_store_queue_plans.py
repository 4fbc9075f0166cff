"""The flow-control queries are answered from indexes.

As ``test_store_plans``: the statements are recorded while the real code
runs (queue controls set, jobs held, claimed and sent), then each one's plan
is asked of SQLite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from backend.domain.limits import RateLimit, blocked
from backend.domain.models import JobOptions, User
from backend.domain.tree import JobSpec
from backend.store import admission, execution, queues
from backend.store.store import Store
from tests.backend.store.store_helpers import leaf, make_flow
from tests.backend.store.test_store_plans import plan, unindexed

# One row per allowed queue, and one per user: read whole on purpose.
SMALL_TABLES = ("SELECT * FROM queue_controls", "SELECT id FROM users")


async def exercise_queue_queries(store: Store, alice: User, ids: Callable[[], str]) -> None:
    keyed = JobSpec(
        "root",
        "flowQueue",
        children=tuple(leaf(opts=JobOptions(concurrency_key=f"k{i % 2}")) for i in range(4)),
    )
    jobs = await make_flow(store, alice, "flow-1", ids, keyed)
    await make_flow(store, alice, "flow-2", ids)
    await store.update_queue(
        "jobQueue",
        lambda c: dataclasses.replace(
            c, concurrency=3, key_concurrency=1, rate_limit=RateLimit(10, 1000)
        ),
    )
    await store.queue_controls(["jobQueue", "flowQueue"])
    now = store.clock()
    async with store.db.transaction() as conn:
        claimed = await admission.claim_ready(conn, [j.job_id for j in jobs], lambda _j: True, now)
        assert len(claimed) == 2  # one per key
        controls = await queues.load_controls(conn)
        loads = await queues.queue_loads(conn, controls, now)
        stop = blocked(controls, loads, now)
        assert stop.keys
        await execution.ready_jobs(conn, now, 10, stop.queues, stop.keys)
        await admission.hold_blocked(conn, stop, now, 10)
        assert await queues.sent_not_started(conn, ["jobQueue"])
    await store.update_queue("jobQueue", lambda c: dataclasses.replace(c, paused=True))
    async with store.db.transaction() as conn:
        controls = await queues.load_controls(conn)
        stop = blocked(controls, await queues.queue_loads(conn, controls, now), now)
        await execution.ready_jobs(conn, now, 10, stop.queues, stop.keys)
        await admission.hold_blocked(conn, stop, now, 10)


async def recorded(store: Store, alice: User, ids: Callable[[], str]) -> list[str]:
    """The statements the flow-control code ran."""
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    await exercise_queue_queries(store, alice, ids)
    await store.db.set_trace_callback(lambda _sql: None)
    return statements


async def test_no_queue_control_query_scans_a_whole_table(
    alice: User, ids: Callable[[], str], store: Store
) -> None:
    statements = await recorded(store, alice, ids)
    queries = sorted(
        {
            s
            for s in statements
            if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))
            and not s.startswith(SMALL_TABLES)
        }
    )
    assert len(queries) >= 8
    assert unindexed(store.db.path, queries) == {}


async def test_the_load_and_the_held_jobs_come_from_their_partial_indexes(
    alice: User, ids: Callable[[], str], store: Store
) -> None:
    statements = await recorded(store, alice, ids)
    [load] = {s for s in statements if "GROUP BY queue_name, concurrency_key" in s}
    assert any("flow_jobs_in_flight" in line for line in plan(store.db.path, load))
    held = {s for s in statements if "held_by IS NOT" in s and s.startswith("SELECT job_id")}
    assert held
    for query in held:
        assert any("flow_jobs_outbox_queue" in line for line in plan(store.db.path, query))
    window = {s for s in statements if s.startswith("SELECT sent_at FROM queue_sends")}
    assert window
    for query in window:
        assert any("queue_sends_window" in line for line in plan(store.db.path, query))
