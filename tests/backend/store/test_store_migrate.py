"""Schema migrations: fresh files, upgrades in place, and refusals."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from backend.domain.models import Job, User
from backend.domain.search import FlowFilter
from backend.domain.tree import JobSpec
from backend.errors import MigrationError
from backend.store.db import Database
from backend.store.migrate import (
    LATEST_VERSION,
    MIGRATIONS_DIR,
    load_migrations,
    split_statements,
)
from backend.store.rows import JOB_COLUMNS, job_to_row
from backend.store.store import Store
from tests.backend.store.store_helpers import jobs_of, leaf
from tests.sqlite_leaks import Recorder


def first_migration_only(tmp_path: Path) -> Path:
    """A migrations directory holding only the shipped 0001."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_initial.sql", directory)
    return directory


# closing(): a sqlite3 connection's own ``with`` ends a transaction, not the connection.
def version_of(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def tables_of(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_fresh_database_reaches_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    async with await Database.open(path) as db:
        assert await db.schema_version() == LATEST_VERSION >= 1
    assert version_of(path) == LATEST_VERSION
    expected = {"users", "tokens", "flows", "flow_jobs", "job_logs", "events", "meta"}
    assert expected <= tables_of(path)


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    for _ in range(2):
        async with await Database.open(path) as db:
            assert await db.schema_version() == LATEST_VERSION


V1_JOB_COLUMNS = JOB_COLUMNS[: JOB_COLUMNS.index("finished_at") + 1]


async def make_v1_flow(store: Store, user: User, flow_id: str, ids: Callable[[], str]) -> list[Job]:
    """A flow stored as version 1 stored it: only the job columns that schema had
    (today's code writes columns later migrations added)."""
    jobs = jobs_of(JobSpec("root", "flowQueue", children=(leaf(), leaf())), flow_id, ids)
    async with store.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO flows (id, name, user_id, root_job_id, created_at, updated_at) "
            "VALUES (?, 'root', ?, ?, 0, 0)",
            (flow_id, user.id, jobs[0].job_id),
        )
        await conn.executemany(
            f"INSERT INTO flow_jobs ({', '.join(V1_JOB_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in V1_JOB_COLUMNS)})",
            [job_to_row(job)[: len(V1_JOB_COLUMNS)] for job in jobs],
        )
    return jobs


async def test_database_from_first_migration_upgrades_to_latest_keeping_rows(
    tmp_path: Path, ids: Callable[[], str]
) -> None:
    path = tmp_path / "f.db"
    old = first_migration_only(tmp_path)
    async with Store(await Database.open(path, migrations_dir=old)) as store:
        user, token = await store.create_user("alice")
        jobs = await make_v1_flow(store, user, "flow-1", ids)
    assert version_of(path) == 1

    async with await Store.open(path) as store:
        assert await store.db.schema_version() == LATEST_VERSION
        assert await store.user_for_token(token) == user
        assert {job.job_id for job in await store.list_jobs(user.id, "flow-1")} == {
            job.job_id for job in jobs
        }
        # version 3 finds flows stored before it by their task names
        for task in ("root", "echo"):
            found, _ = await store.search_flows(user.id, FlowFilter(task=task), limit=5)
            assert [flow.id for flow in found] == ["flow-1"]
        assert (await store.get_flow(user.id, "flow-1")).metadata == {}


async def test_later_migration_upgrades_in_place_without_losing_rows(
    tmp_path: Path, ids: Callable[[], str]
) -> None:
    path = tmp_path / "f.db"
    directory = first_migration_only(tmp_path)
    async with Store(await Database.open(path, migrations_dir=directory)) as store:
        user, _ = await store.create_user("alice")
        await make_v1_flow(store, user, "flow-1", ids)

    (directory / "0002_flow_labels.sql").write_text(
        "-- a test-only migration; semicolons in comments; are fine\n"
        "ALTER TABLE flows ADD COLUMN label TEXT NOT NULL DEFAULT 'none';\n"
        "CREATE INDEX flows_label ON flows(label);\n"
        "UPDATE flows SET label = 'upgraded: ' || name;\n"
    )
    async with Store(await Database.open(path, migrations_dir=directory)) as store:
        assert await store.db.schema_version() == 2
        async with store.db.read() as conn, conn.execute("SELECT label FROM flows") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["upgraded: root"]


async def test_newer_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    async with await Database.open(path):
        pass
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 3}")
    with pytest.raises(MigrationError) as caught:
        await Database.open(path)
    message = str(caught.value)
    assert f"schema version {LATEST_VERSION + 3}" in message
    assert f"up to {LATEST_VERSION}" in message
    assert "newer Flowdesk" in message
    assert str(path) in message
    assert version_of(path) == LATEST_VERSION + 3


async def test_failed_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    directory = first_migration_only(tmp_path)
    (directory / "0002_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    with pytest.raises(MigrationError, match="0002_broken failed: no such table"):
        await Database.open(path, migrations_dir=directory)
    assert version_of(path) == 1
    assert "half_done" not in tables_of(path)


async def test_concurrent_opens_of_a_fresh_file_migrate_once(
    tmp_path: Path, sqlite_connections: Recorder
) -> None:
    path = tmp_path / "f.db"
    dbs = await asyncio.gather(*(Database.open(path) for _ in range(4)))
    for db in dbs:
        assert await db.schema_version() == LATEST_VERSION
        await db.close()
    assert len(sqlite_connections.opened) == 4 * 3  # a writer and two readers each
    assert sqlite_connections.still_open() == []


async def test_opens_cancelled_at_any_point_leave_no_connection_open(
    tmp_path: Path, sqlite_connections: Recorder
) -> None:
    """Openers that lose a race (cancelled while connecting, migrating or
    opening readers, as a timed-out start-up is) close everything they
    opened, while the others open the same fresh file as usual."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with await Database.open(tmp_path / "timed.db"):
        pass
    whole_open = loop.time() - start
    # a few loop turns (inside aiosqlite's connect), then points spread over
    # the whole opening
    points = [(turns, "loop turns") for turns in range(12)]
    points += [(whole_open * step / 12, "s") for step in range(13)]
    cancelled = 0
    for index, (after, unit) in enumerate(points):
        path = tmp_path / f"f{index}.db"
        survivor = asyncio.ensure_future(Database.open(path))
        loser = asyncio.ensure_future(Database.open(path))
        if unit == "s":
            await asyncio.sleep(after)
        else:
            for _ in range(int(after)):
                await asyncio.sleep(0)
        loser.cancel()
        for task in (survivor, loser):
            try:
                db = await task
            except asyncio.CancelledError:
                cancelled += 1
            else:
                assert await db.schema_version() == LATEST_VERSION
                await db.close()
        assert sqlite_connections.still_open() == [], f"loser cancelled after {after} {unit}"
    assert cancelled >= len(points) // 2  # most losers really were cut short


@pytest.mark.parametrize(
    ("names", "error"),
    [
        (["0001_a.sql", "0003_c.sql"], "without gaps"),
        (["0002_b.sql"], "without gaps"),
        (["0001_a.sql", "1_b.sql"], "not named NNNN_name.sql"),
    ],
)
def test_badly_numbered_migrations_are_rejected(
    tmp_path: Path, names: list[str], error: str
) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=error):
        load_migrations(tmp_path)


def test_split_statements_respects_strings_comments_and_triggers() -> None:
    script = """
        -- header; with a semicolon
        CREATE TABLE t (x TEXT DEFAULT 'a;b'); INSERT INTO t VALUES ('c;d');
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN
            UPDATE t SET x = 'e;f';
        END;
        /* trailing comment */
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[2].startswith("CREATE TRIGGER")
    assert statements[2].endswith("END;")
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    assert conn.execute("SELECT x FROM t").fetchall() == [("c;d",)]
    conn.execute("INSERT INTO t VALUES ('g')")
    assert conn.execute("SELECT x FROM t").fetchall() == [("e;f",), ("e;f",)]
    conn.close()


def test_incomplete_statement_is_an_error() -> None:
    with pytest.raises(MigrationError, match="incomplete"):
        split_statements("CREATE TABLE t (x);\nCREATE TABLE u (y)")
