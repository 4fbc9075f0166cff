"""The database file: pragmas, permissions, transactions and snapshots."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from backend.store.db import Database
from backend.store.migrate import LATEST_VERSION


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def pragma(conn: object, name: str) -> object:
    async with conn.execute(f"PRAGMA {name}") as cursor:  # type: ignore[attr-defined]
        row = await cursor.fetchone()
    return row[0]


async def test_every_connection_runs_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:
        async with db.transaction() as conn:
            assert await pragma(conn, "journal_mode") == "wal"
            assert await pragma(conn, "synchronous") == 2  # FULL
            assert await pragma(conn, "foreign_keys") == 1
        async with db.read() as conn:
            assert await pragma(conn, "journal_mode") == "wal"
            assert await pragma(conn, "synchronous") == 2
            assert await pragma(conn, "foreign_keys") == 1
        assert await db.schema_version() == LATEST_VERSION


async def test_normal_durability_syncs_at_checkpoints_only(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db", durability="normal") as db:
        async with db.transaction() as conn:
            assert await pragma(conn, "synchronous") == 1  # NORMAL
        async with db.read() as conn:
            assert await pragma(conn, "synchronous") == 1
    with pytest.raises(ValueError, match="durability"):
        await Database.open(tmp_path / "g.db", durability="fast")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
async def test_file_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "f.db"
    async with await Database.open(path) as db:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    assert mode(path.parent) == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
async def test_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    path.touch()
    path.chmod(0o644)
    async with await Database.open(path):
        assert mode(path) == 0o600


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO flows (id, name, user_id, root_job_id, created_at, updated_at) "
                    "VALUES ('f', 'n', 'no-such-user', 'r', 1, 1)"
                )


async def count(db: Database, table: str) -> int:
    async with db.read() as conn, conn.execute(f"SELECT count(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta VALUES ('kept', '1')")

        async def failing() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta VALUES ('dropped', '1')")
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await failing()
        async with db.read() as conn, conn.execute("SELECT key FROM meta") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["kept"]


async def test_concurrent_transactions_do_not_interleave(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta VALUES ('n', '0')")

        async def increment() -> None:
            async with db.transaction() as conn:
                async with conn.execute("SELECT value FROM meta WHERE key = 'n'") as cursor:
                    row = await cursor.fetchone()
                assert row is not None
                await asyncio.sleep(0)  # let the others try to get in
                await conn.execute("UPDATE meta SET value = ? WHERE key = 'n'", (int(row[0]) + 1,))

        await asyncio.gather(*(increment() for _ in range(50)))
        async with db.read() as conn, conn.execute("SELECT value FROM meta") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["50"]


async def test_reads_see_only_committed_rows(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:
        inserted, checked = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta VALUES ('k', 'v')")
                inserted.set()
                await checked.wait()

        task = asyncio.create_task(writer())
        await inserted.wait()
        assert await count(db, "meta") == 0
        checked.set()
        await task
        assert await count(db, "meta") == 1


async def test_cancelled_transaction_rolls_back_and_frees_the_writer(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:
        started = asyncio.Event()

        async def stuck() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta VALUES ('lost', '1')")
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(stuck())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta VALUES ('next', '1')")
        async with db.read() as conn, conn.execute("SELECT key FROM meta") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["next"]


async def test_cancelled_read_returns_its_connection_to_the_pool(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db", readers=1) as db:
        started = asyncio.Event()

        async def reader() -> None:
            async with db.read():
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(reader())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(count(db, "meta"), 5) == 0


async def test_nested_transaction_is_an_error_not_a_deadlock(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "f.db") as db:

        async def nested() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta VALUES ('outer', '1')")
                async with db.transaction():
                    pass

        with pytest.raises(RuntimeError, match="does not nest"):
            await asyncio.wait_for(nested(), 5)
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta VALUES ('after', '1')")
        async with db.read() as conn, conn.execute("SELECT key FROM meta") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["after"]
