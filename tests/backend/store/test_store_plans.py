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
from backend.domain.search import FlowFilter, FlowSort, JobFilter, Position, RetentionRule
from backend.domain.tree import JobSpec
from backend.store.search import flows_query, jobs_query
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


FLOW_FILTERS = [
    FlowFilter(statuses=(FlowStatus.FAILED, FlowStatus.CANCELLED)),
    FlowFilter(meta=(("customer", "acme"),)),
    FlowFilter(meta=(("customer", "acme"), ("tier", "1")), task="echo"),
    FlowFilter(task="echo", statuses=(FlowStatus.ACTIVE,), search="ro"),
    FlowFilter(job_id="nope", statuses=(FlowStatus.ACTIVE,)),
    FlowFilter(created_after=1, created_before=2**40),
    FlowFilter(finished_after=1, finished_before=2**40),
    FlowFilter(sort=FlowSort.FINISHED, finished_after=1, meta=(("customer", "acme"),)),
    FlowFilter(sort=FlowSort.DURATION, statuses=(FlowStatus.FAILED,)),
]
JOB_FILTERS = [
    JobFilter(),
    JobFilter(state=JobState.FAILED, finished_after=1),
    JobFilter(task="echo", queue="jobQueue"),
    JobFilter(error_type="ValueError", finished_before=2**40),
    JobFilter(queue="jobQueue"),
]


async def exercise_searches(store: Store, alice: User) -> None:
    for flt in FLOW_FILTERS:
        for after in (None, Position(None, 10**9), Position(10**12, 10**9)):
            await store.search_flows(alice.id, flt, limit=1, after=after)
        await store.matching_flow_ids(alice.id, flt, 10)
    await store.owned_flow_ids(alice.id, ["flow-1", "nope"])
    for jflt in JOB_FILTERS:
        for after in (None, Position(None, 10**9), Position(10**12, 10**9)):
            await store.search_jobs(alice.id, jflt, limit=1, after=after)


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
            await store.list_flows(
                alice.id, limit=1, cursor=Position(10**12, 10**9), status=status, search=search
            )
    await exercise_searches(store, alice)
    await store.list_jobs(alice.id, "flow-1")
    await store.get_job(alice.id, jobs[1].job_id)
    await store.job_logs(alice.id, jobs[1].job_id)
    await store.queue_counts(["jobQueue", "flowQueue"])
    await store.task_stats(0)
    async with store.db.transaction() as conn:
        await conn.execute(
            "UPDATE flow_jobs SET status = ? WHERE job_id = ?",
            (JobState.COMPLETED.value, jobs[1].job_id),
        )
    finished = (FlowStatus.COMPLETED, FlowStatus.FAILED, FlowStatus.CANCELLED)
    await store.retention_cutoff(RetentionRule(finished, max_age_ms=5, max_count=1), 10**13)
    await store.expired_flows(finished, 10**13, -1)
    await store.prune_flows(finished, 10**13, 10)
    await store.delete_flow(alice.id, "flow-2")
    await store.delete_flows(alice.id, ["flow-1", "nope"])


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

    listing = [
        s
        for s in statements
        if s.startswith("SELECT f.*, f.created_at AS sort_key FROM flows f WHERE")
    ]
    listing = [s for s in listing if "job_id" not in s and "EXISTS" not in s]
    assert len(listing) >= 8
    for query in listing:
        lines = plan(store.db.path, query)
        expected = "flows_user_status_created" if "f.status = " in query else "flows_user_created"
        assert lines[0].startswith(f"SEARCH f USING INDEX {expected} (user_id=?"), lines
        assert not any("TEMP B-TREE" in line for line in lines), lines

    jobs_query = [s for s in statements if s.startswith("SELECT * FROM flow_jobs WHERE flow_id")]
    assert len(jobs_query) == 1
    assert plan(store.db.path, jobs_query[0]) == [
        "SEARCH flow_jobs USING INDEX flow_jobs_flow (flow_id=?)"
    ]


LEADS = [
    (FlowFilter(meta=(("customer", "acme"),), statuses=(FlowStatus.FAILED,)),
     "SEARCH t USING PRIMARY KEY (user_id=? AND kind=? AND key=? AND value=?"),
    (FlowFilter(meta=(("customer", "acme"),), created_before=5),
     "SEARCH t USING PRIMARY KEY (user_id=? AND kind=? AND key=? AND value=? AND created_at<?"),
    (FlowFilter(task="echo", meta=(("customer", "acme"),)),
     "SEARCH t USING PRIMARY KEY (user_id=? AND kind=? AND key=? AND value=?"),
    (FlowFilter(job_id="j", statuses=(FlowStatus.FAILED,)),
     "SEARCH f USING INDEX sqlite_autoindex_flows_1 (id=?)"),
    (FlowFilter(statuses=(FlowStatus.FAILED,)),
     "SEARCH f USING INDEX flows_user_status_created (user_id=? AND status=?"),
    (FlowFilter(statuses=(FlowStatus.FAILED, FlowStatus.CANCELLED), created_after=5),
     "SEARCH f USING INDEX flows_user_created (user_id=? AND created_at>?"),
    (FlowFilter(created_before=5),
     "SEARCH f USING INDEX flows_user_created (user_id=? AND created_at<?"),
    (FlowFilter(finished_after=5), "SEARCH f USING INDEX flows_user_created (user_id=?"),
    (FlowFilter(sort=FlowSort.FINISHED, finished_after=5),
     "SEARCH f USING INDEX flows_user_finished (user_id=? AND finished_at>?"),
    (FlowFilter(sort=FlowSort.DURATION, statuses=(FlowStatus.FAILED,)),
     "SEARCH f USING INDEX flows_user_duration (user_id=?"),
]  # fmt: skip


@pytest.mark.parametrize(("flt", "lead"), LEADS)
@pytest.mark.parametrize("after", [None, Position(7, 9)])
async def test_each_flow_filter_walks_the_index_of_its_order(
    store: Store, alice: User, flt: FlowFilter, lead: str, after: Position | None
) -> None:
    sql, params, _ = flows_query(alice.id, flt, after, 51)
    async with store.db.read() as conn:
        lines = [row[3] async for row in await conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert lines[0].startswith(lead), lines
    assert not any("TEMP B-TREE" in line or reads_whole_table(line) for line in lines), lines


@pytest.mark.parametrize(
    ("flt", "finished_lead", "unfinished_lead"),
    [
        (JobFilter(), "flow_jobs_finished (finished_at>?", "flow_jobs_finished (finished_at=?"),
        (JobFilter(state=JobState.FAILED, finished_after=3),
         "flow_jobs_status_finished (status=? AND finished_at>?",
         "flow_jobs_status_finished (status=? AND finished_at=?"),
        (JobFilter(task="echo"), "flow_jobs_name_finished (name=? AND finished_at>?",
         "flow_jobs_name_finished (name=? AND finished_at=?"),
        (JobFilter(error_type="ValueError"),
         "flow_jobs_error_finished (error_type=? AND finished_at>?",
         "flow_jobs_error_finished (error_type=? AND finished_at=?"),
    ],
)  # fmt: skip
async def test_each_job_filter_walks_its_index_then_probes_the_owner(
    store: Store, alice: User, flt: JobFilter, finished_lead: str, unfinished_lead: str
) -> None:
    for finished, lead in ((True, finished_lead), (False, unfinished_lead)):
        sql, params = jobs_query(alice.id, flt, Position(7, 9), 51, finished=finished)
        async with store.db.read() as conn:
            lines = [
                row[3] async for row in await conn.execute("EXPLAIN QUERY PLAN " + sql, params)
            ]
        assert lines[0].startswith("SEARCH j USING INDEX " + lead), lines
        assert lines[1] == "SEARCH f USING INDEX sqlite_autoindex_flows_1 (id=?)", lines
        assert not any("TEMP B-TREE" in line for line in lines), lines


async def test_task_stats_read_a_time_range_of_the_event_log(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    await store.task_stats(1_000)
    await store.db.set_trace_callback(lambda _sql: None)
    [query] = [s for s in statements if "json_extract" in s]
    lines = plan(store.db.path, query)
    assert lines[0] == "SEARCH events USING INDEX events_created (created_at>?)", lines
