"""``backend backup``: a consistent online copy while flows are created and run.

A real backend (API, execution layer, in-process worker with the example
tasks, private Redis) keeps creating flows and running their jobs while the
database is copied, once through ``backup_database`` in many small steps (so
commits land between steps) and once through the ``backend backup`` command.
Each copy is restored with ``Store.open`` and must pass SQLite's integrity
and foreign-key checks and hold every flow it has whole: a flow is created in
one transaction, so a torn copy would show a flow with missing jobs.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from backend.settings import Settings
from backend.store.backup import BackupError, backup_database
from backend.store.store import Store
from tests.e2e.kit import Api, fast_settings, start_backend, stop_backend

EXAMPLE_TASKS = ("backend.examples.tasks",)


def tree(index: int) -> dict[str, object]:
    """A flow of 1 + (index % 7 + 1) * 3 jobs: a sum over echo children, some nested."""
    children = [
        {"name": "echo", "queueName": "jobQueue", "data": i,
         "children": [{"name": "echo", "queueName": "jobQueue", "data": {"n": i}}] * 2}
        for i in range(index % 7 + 1)
    ]  # fmt: skip
    return {"name": "sum", "queueName": "flowQueue", "data": {"add": index},
            "children": children}  # fmt: skip


def size(node: dict[str, object]) -> int:
    children = node.get("children", [])
    assert isinstance(children, list)
    return 1 + sum(size(child) for child in children)


async def create_flows(api: Api, sizes: dict[str, int], stop: asyncio.Event) -> None:
    for index in itertools.count():
        if stop.is_set():
            return
        body = tree(index)
        flow = await api.create(body)
        sizes[flow["id"]] = size(body)


async def flow_count(store: Store) -> int:
    async with store.db.read() as conn, conn.execute("SELECT count(*) FROM flows") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(folder.glob(pattern))


async def flows_in(path: Path, flow_ids: list[str]) -> list[str]:
    store = await Store.open(path)
    try:
        marks = ",".join("?" * len(flow_ids))
        async with store.db.conn.execute(
            f"SELECT id FROM flows WHERE id IN ({marks})", flow_ids
        ) as cur:
            return [row[0] for row in await cur.fetchall()]
    finally:
        await store.close()


async def check_copy(path: Path, sizes: dict[str, int]) -> int:
    """Restore ``path`` and check it; return how many flows it holds."""
    assert mode(path) == 0o600
    store = await Store.open(path)
    try:
        conn = store.db.conn
        async with conn.execute("PRAGMA integrity_check") as cur:
            assert [row[0] for row in await cur.fetchall()] == ["ok"]
        async with conn.execute("PRAGMA foreign_key_check") as cur:
            assert await cur.fetchall() == []
        async with conn.execute(
            "SELECT f.id, count(j.id) FROM flows f LEFT JOIN flow_jobs j ON j.flow_id = f.id "
            "GROUP BY f.id"
        ) as cur:
            held = {row[0]: row[1] for row in await cur.fetchall()}
        async with conn.execute(
            "SELECT count(DISTINCT flow_id) FROM events WHERE type = 'flow:created'"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        assert row[0] == len(held)
    finally:
        await store.close()
    assert held, "the copy holds no flows"
    for flow_id, jobs in held.items():
        assert jobs == sizes[flow_id], f"flow {flow_id}: {jobs} of {sizes[flow_id]} jobs"
    return len(held)


async def test_backup_while_flows_run_is_consistent(redis_url: str, tmp_path: Path) -> None:
    settings: Settings = fast_settings(redis_url, tmp_path / "live.db", tasks=EXAMPLE_TASKS)
    backend = await start_backend(settings)
    sizes: dict[str, int] = {}
    stop = asyncio.Event()
    writer = asyncio.create_task(create_flows(backend.api, sizes, stop))
    try:
        while len(sizes) < 30:
            await asyncio.sleep(0.05)
        before = await flow_count(backend.store)
        later: list[str] = []

        def hold_first_step(remaining: int, _total: int) -> None:
            """After the first step, wait (on the copying thread) for three more flows."""
            if later or remaining == 0:
                return
            known = len(sizes)
            deadline = time.monotonic() + 60
            while len(sizes) < known + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            # Flow number known+1 may have committed before the snapshot; the
            # next ones were requested after this step, so after the snapshot.
            later.extend(list(sizes)[known + 1 :])

        await backup_database(
            settings.db, tmp_path / "stepped.db", step_pages=2, step_sleep=0.001,
            progress=hold_first_step,
        )  # fmt: skip
        after = await flow_count(backend.store)
        assert len(later) >= 2, "precondition: flows were committed between backup steps"
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "backend", "backup", str(tmp_path / "cli.db"),
            "--db", str(settings.db),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "FLOWDESK_CONFIG": ""},
        )  # fmt: skip
        output, _ = await command.communicate()
        assert command.returncode == 0, output.decode()
        assert b"backed up" in output
    finally:
        stop.set()
        await writer
        await stop_backend(backend)
    held = await check_copy(tmp_path / "stepped.db", sizes)
    assert before <= held < after
    assert not await flows_in(tmp_path / "stepped.db", later), "the copy is not one snapshot"
    assert await check_copy(tmp_path / "cli.db", sizes) >= after
    assert not listing(tmp_path, ".*.partial"), "a temporary file was left behind"


async def test_backup_refuses_to_replace_a_file_unless_asked(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    await (await Store.open(live)).close()
    target = tmp_path / "copy.db"
    target.write_text("keep me")
    with pytest.raises(BackupError, match="exists"):
        await backup_database(live, target)
    assert target.read_text() == "keep me"
    result = await backup_database(live, target, overwrite=True)
    assert result.path == target
    assert result.schema_version >= 1
    assert mode(target) == 0o600
    store = await Store.open(target)
    await store.close()


async def test_backup_of_a_missing_database_fails_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        await backup_database(tmp_path / "absent.db", tmp_path / "copy.db")
    assert listing(tmp_path) == []


def test_backup_command_exits_nonzero_on_error(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "backend", "backup", str(tmp_path / "copy.db"),
         "--db", str(tmp_path / "absent.db")],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no database" in done.stderr
    assert not (tmp_path / "copy.db").exists()
