"""Every query the store runs is answered from an index.

The statements are not copied here: the test records what the store really
runs (through ``Database.set_trace_callback``, parameters expanded) while it
exercises every method, then asks SQLite for each statement's plan. So a new
query without an index fails this test without anyone listing it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.domain.models import FlowStatus, JobState, User
from backend.domain.tree import JobSpec
from backend.store.store import Store
from tests.backend.store.store_helpers import leaf, make_flow


def reads_whole_table(line: str) -> bool:
    """A plan line such as ``SCAN flows``: every row of a table, no index."""
    return (
        line.startswith("SCAN ")
        and " USING " not in line
        and "VIRTUAL TABLE" not in line
        and line != "SCAN CONSTANT ROW"
    )


@pytest.mark.parametrize(
    ("line", "whole"),
    [
        ("SCAN flows", True),
        ("SCAN j", True),
        ("SCAN flow_jobs USING COVERING INDEX flow_jobs_status", False),
        ("SCAN json_each VIRTUAL TABLE INDEX 1:", False),
        ("SEARCH flows USING INDEX flows_user_seq (user_id=?)", False),
        ("SCAN CONSTANT ROW", False),
    ],
)
def test_reads_whole_table(line: str, whole: bool) -> None:
    assert reads_whole_table(line) is whole


def plan(db_path: Path, statement: str) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement)]
    finally:
        conn.close()


async def exercise_every_query(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    jobs = await make_flow(store, alice, "flow-1", ids)
    await make_flow(store, alice, "flow-2", ids, JobSpec("root", "flowQueue", children=(leaf(),)))
    await make_flow(store, bob, "flow-3", ids)
    _, token = await store.create_user("carol")
    await store.issue_token("carol")
    await store.user_for_token(token)
    await store.list_users()
    await store.get_or_create_local_user("local")
    await store.revoke_tokens("carol")
    await store.existing_job_ids([jobs[1].job_id, "free"])
    await store.get_flow(alice.id, "flow-1")
    for status in (None, FlowStatus.ACTIVE):
        for search in (None, "ro%t"):
            await store.list_flows(alice.id, limit=1, status=status, search=search)
            await store.list_flows(alice.id, limit=1, cursor=10**9, status=status, search=search)
    await store.list_jobs(alice.id, "flow-1")
    await store.get_job(alice.id, jobs[1].job_id)
    await store.job_logs(alice.id, jobs[1].job_id)
    await store.queue_counts(["jobQueue", "flowQueue"])
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE flow_jobs SET status = ? WHERE job_id = ?",
            (JobState.COMPLETED.value, jobs[1].job_id),
        )
    await store.delete_flow(alice.id, "flow-2")


async def test_no_store_query_scans_a_whole_table(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    await exercise_every_query(store, alice, bob, ids)
    await store.db.set_trace_callback(lambda _sql: None)

    queries = sorted(
        {s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))}
    )
    assert len(queries) >= 15
    assert unindexed(store.db.path, queries) == {}


def unindexed(db_path: Path, queries: list[str]) -> dict[str, list[str]]:
    """The plans of those ``queries`` that read a whole table or sort their rows."""
    plans = {query: plan(db_path, query) for query in queries}
    return {
        query: lines
        for query, lines in plans.items()
        if any(reads_whole_table(line) for line in lines)
        or any("TEMP B-TREE FOR ORDER BY" in line for line in lines)
    }


async def test_list_flows_and_list_jobs_search_their_indexes(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    await exercise_every_query(store, alice, bob, ids)
    await store.db.set_trace_callback(lambda _sql: None)

    listing = [s for s in statements if s.startswith("SELECT * FROM flows WHERE user_id")]
    assert len(listing) == 8
    for query in listing:
        lines = plan(store.db.path, query)
        expected = "flows_user_status_seq" if "status =" in query else "flows_user_seq"
        assert lines[0].startswith(f"SEARCH flows USING INDEX {expected} (user_id=?"), lines
        assert not any("TEMP B-TREE" in line for line in lines), lines

    jobs_query = [s for s in statements if s.startswith("SELECT * FROM flow_jobs WHERE flow_id")]
    assert len(jobs_query) == 1
    assert plan(store.db.path, jobs_query[0]) == [
        "SEARCH flow_jobs USING INDEX flow_jobs_flow (flow_id=?)"
    ]
