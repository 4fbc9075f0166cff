"""Retention's store queries: cutoffs by age and by count, and what a prune may touch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend.domain.models import FlowStatus, JobState, User
from backend.domain.search import RetentionRule
from backend.store.store import Store
from tests.backend.store.store_helpers import make_flow

DONE = (FlowStatus.COMPLETED,)
ENDED = (FlowStatus.FAILED, FlowStatus.CANCELLED)


async def finish(store: Store, flow_id: str, status: FlowStatus, at: int) -> None:
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE flows SET status = ?, finished_at = ? WHERE id = ?", (status, at, flow_id)
        )
        await conn.execute(
            "UPDATE flow_jobs SET status = ?, finished_at = ? WHERE flow_id = ?",
            (JobState.COMPLETED if status is FlowStatus.COMPLETED else JobState.FAILED, at,
             flow_id),
        )  # fmt: skip


@pytest.fixture
async def history(store: Store, alice: User, ids: Callable[[], str]) -> None:
    """c1..c5 completed at 1..5 s, f1 failed at 2 s, x1 cancelled at 6 s, a1 active."""
    for i in range(1, 6):
        await make_flow(store, alice, f"c{i}", ids)
        await finish(store, f"c{i}", FlowStatus.COMPLETED, i * 1000)
    await make_flow(store, alice, "f1", ids)
    await finish(store, "f1", FlowStatus.FAILED, 2000)
    await make_flow(store, alice, "x1", ids)
    await finish(store, "x1", FlowStatus.CANCELLED, 6000)
    await make_flow(store, alice, "a1", ids)


@pytest.mark.parametrize(
    ("rule", "cutoff"),
    [
        (RetentionRule(DONE, max_age_ms=7000), 3000),  # now 10 s
        (RetentionRule(DONE, max_count=2), 4000),  # keep c5, c4
        (RetentionRule(DONE, max_age_ms=9000, max_count=2), 4000),  # the stricter wins
        (RetentionRule(DONE, max_count=9), None),  # fewer than the count: keep all
        (RetentionRule(ENDED, max_count=1), 6000),  # failed and cancelled counted together
    ],
)
@pytest.mark.usefixtures("history")
async def test_cutoffs(store: Store, rule: RetentionRule, cutoff: int | None) -> None:
    assert await store.retention_cutoff(rule, 10_000) == cutoff


@pytest.mark.usefixtures("history")
async def test_prune_takes_the_oldest_first_in_batches_and_logs_each(store: Store) -> None:
    first = await store.prune_flows(DONE, 4000, 2)
    assert [flow.id for flow in first] == ["c1", "c2"]
    second = await store.prune_flows(DONE, 4000, 2)
    assert [flow.id for flow in second] == ["c3"]
    async with (
        store.db.read() as conn,
        conn.execute(
            "SELECT flow_id, payload FROM events WHERE type = 'flow:deleted' ORDER BY seq"
        ) as cursor,
    ):
        assert [tuple(row) for row in await cursor.fetchall()] == [
            ("c1", '{"id":"c1"}'), ("c2", '{"id":"c2"}'), ("c3", '{"id":"c3"}')
        ]  # fmt: skip
    async with store.db.read() as conn, conn.execute("SELECT count(*) FROM flow_terms") as cur:
        assert (await cur.fetchone())[0] == 5 * 2  # the deleted flows' terms went with them


@pytest.mark.usefixtures("history")
async def test_prune_never_touches_an_unfinished_flow_or_one_with_a_running_job(
    store: Store,
) -> None:
    async with store.db.transaction() as conn:  # a cancelled flow whose worker has not answered
        await conn.execute("UPDATE flow_jobs SET status = 'active' WHERE flow_id = 'x1'")
    gone = await store.prune_flows((*DONE, *ENDED), 10**15, 100)
    assert sorted(flow.id for flow in gone) == ["c1", "c2", "c3", "c4", "c5", "f1"]
    with pytest.raises(ValueError, match="never deletes active"):
        await store.prune_flows((FlowStatus.ACTIVE,), 10**15, 100)
