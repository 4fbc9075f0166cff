"""Retention against a real backend, real workers and Redis: the pruner and ``backend prune``.

Completed flows expire at once here (a one-millisecond age limit) while
failed ones are kept for 30 days; the pruner's pass is started by the test
(its timer is an hour) so that it runs exactly while flows are running and
new ones are being created.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backend.retention import PRUNER
from backend.settings import Settings
from tests.e2e.kit import ROOT, Backend, Workers, fast_settings, node, start_backend, stop_backend

BIG = "x" * 20_000  # so that the deleted flows are most of the file


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return fast_settings(
        redis_url, tmp_path / "flowdesk.db",
        retention="on", retention_completed_days=1 / 86_400_000, retention_failed_days=30,
        retention_interval=3600, retention_batch=7,
    )  # fmt: skip


def file_size(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


async def deleted_events(backend: Backend) -> list[str]:
    async with (
        backend.store.db.read() as conn,
        conn.execute("SELECT flow_id FROM events WHERE type = 'flow:deleted'") as cursor,
    ):
        return [row[0] for row in await cursor.fetchall()]


async def run_history(backend: Backend, count: int) -> tuple[list[str], list[str], str]:
    api = backend.api
    done = [(await api.create(node(f"big{i}", "value", data={"pad": BIG, "value": i})))["id"]
            for i in range(count)]  # fmt: skip
    running = [(await api.create(node(f"run{i}", "slow", data={"seconds": 60})))["id"]
               for i in range(2)]  # fmt: skip
    failed = (await api.create(node("bad", "boom")))["id"]
    for flow_id in [*done, failed]:
        await api.wait_flow(flow_id)
    for flow_id in running:
        await api.wait_flow(flow_id, done=lambda f: f["counts"]["active"] == 1)
    return done, running, failed


async def test_pruner_deletes_only_finished_flows_past_retention_and_shrinks_the_file(
    backend: Backend, workers: Workers, settings: Settings
) -> None:
    workers.start()
    done, running, failed = await run_history(backend, 60)
    waiting = (await backend.api.create(node("later", "value", node("never", "slow",
               data={"seconds": 60}))))["id"]  # fmt: skip
    before = file_size(settings.db)

    async def create_meanwhile() -> list[str]:
        made = []
        for i in range(10):
            made.append((await backend.api.create(node(f"new{i}", "slow",
                         data={"seconds": 60})))["id"])  # fmt: skip
            await asyncio.sleep(0)
        return made

    report, created = await asyncio.gather(
        backend.server.app[PRUNER].run_once(), create_meanwhile()
    )
    assert report.deleted >= len(done)
    assert report.reclaimed
    for flow_id in done:
        assert (await backend.api.call("GET", f"/flows/{flow_id}"))[0] == 404
    for flow_id in [*running, waiting, failed, *created]:
        flow = await backend.api.ok("GET", f"/flows/{flow_id}")  # unfinished, or kept 30 days
        assert flow["status"] in {"active", "failed"}
    events = await deleted_events(backend)
    assert set(done) <= set(events)
    assert len(events) == len(set(events)) == report.deleted
    after = file_size(settings.db)
    assert after < before * 0.6, (before, after)


async def test_backend_prune_command(workers: Workers, settings: Settings) -> None:
    workers.start()
    first = await start_backend(replace(settings, retention="off"))
    try:
        done, running, failed = await run_history(first, 20)
    finally:
        await stop_backend(first)  # `backend prune` runs against the file, as an operator would
    env = {**os.environ, "FLOWDESK_DB": str(settings.db), "PYTHONPATH": str(ROOT)}

    def prune(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend", "prune", *args],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip

    dry = prune("--older-than", "0s", "--status", "failed", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would delete 1 flow(s) (failed)" in dry.stdout
    assert failed in dry.stdout
    bad = prune("--older-than", "seven days")
    assert bad.returncode == 2
    assert "not an age" in bad.stderr
    kept = prune("--older-than", "1d")
    assert "deleted 0 flow(s)" in kept.stdout

    before = file_size(settings.db)
    done_run = prune("--older-than", "0s", "--status", "completed")
    assert done_run.returncode == 0, done_run.stderr
    assert f"deleted {len(done)} flow(s) (completed)" in done_run.stdout
    assert file_size(settings.db) < before

    reopened = await start_backend(replace(settings, retention="off"))
    try:
        left = await reopened.api.ok("GET", "/flows?limit=200")
        statuses: dict[str, Any] = {flow["id"]: flow["status"] for flow in left["items"]}
        assert statuses == {**dict.fromkeys(running, "active"), failed: "failed"}
        assert sorted(await deleted_events(reopened)) == sorted(done)
        for flow_id in running:
            await reopened.api.ok("POST", f"/flows/{flow_id}/cancel")
    finally:
        await stop_backend(reopened)
