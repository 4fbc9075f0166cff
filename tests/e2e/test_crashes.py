"""Crash safety: a worker or the backend killed with SIGKILL, Redis restarted empty.

Checked from both sides: the database (every flow completes, values right,
nothing recorded twice) and the tasks' own run records (no parent started
before all its children ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from backend.settings import Settings
from backend.store.store import Store
from tests.conftest import RedisServer
from tests.e2e.kit import Api, Backend, Workers, node, runs, wait_workers
from tests.soak.procs import BackendProc, Timing


def children_first(redis_url: str, jobs: dict[str, dict[str, Any]]) -> None:
    by_job: dict[str, list[dict[str, Any]]] = {}
    for run in runs(redis_url):
        by_job.setdefault(run["job"], []).append(run)
    for job in jobs.values():
        for child in job["children"]:
            completed_runs = by_job[child]
            parent_runs = by_job[job["jobId"]]
            assert min(r["start"] for r in parent_runs) >= min(r["end"] for r in completed_runs)


async def test_worker_killed_mid_task_job_runs_again(backend: Backend, workers: Workers) -> None:
    first = workers.start()
    await wait_workers(backend.api, 1)
    flow = await backend.api.create(
        node("root", "value", node("slow", "slow", data={"seconds": 2, "value": 4}))
    )
    await backend.api.wait_flow(flow["id"], done=lambda f: f["counts"]["active"] == 1)
    workers.kill(first)
    workers.start()
    done = await backend.api.wait_flow(flow["id"], within=40)
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["slow"]["attemptsMade"] >= 2  # the lost attempt counts
    assert jobs["root"]["result"] == 4
    assert Counter(r["job"] for r in runs(backend.settings.redis_url))["root"] == 1
    # The dead worker's message was dropped when the job was retried: it is not
    # reclaimed later to run the lost attempt a second time.
    await asyncio.sleep(backend.settings.reclaim_idle * 1.5)
    assert Counter(r["job"] for r in runs(backend.settings.redis_url))["slow"] == 1


async def wait_ready(api: Api, server: BackendProc) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            status, _ = await api.call("GET", "/health")
            if status == 200:
                return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            pytest.fail((server.logdir / f"backend-{server.starts}.log").read_text())
        await asyncio.sleep(0.1)


async def backend_process(settings: Settings, logdir: Path) -> tuple[BackendProc, str]:
    """``backend serve`` started over a new database with one user; its token."""
    async with await Store.open(settings.db) as store:
        _user, token = await store.create_user("alice")
    timing = Timing(
        heartbeat_interval=settings.heartbeat_interval,
        stall_timeout=settings.stall_timeout,
        reclaim_idle=settings.reclaim_idle,
        shutdown_timeout=settings.shutdown_timeout,
    )
    server = BackendProc(settings.db, settings.redis_url, logdir, timing)
    server.start()
    return server, token


@contextlib.asynccontextmanager
async def serving(settings: Settings, logdir: Path) -> AsyncIterator[tuple[BackendProc, Api]]:
    """``backend serve`` over a fresh database, ready, with a client of its one user."""
    server, token = await backend_process(settings, logdir)
    async with aiohttp.ClientSession() as session:
        api = Api(session, server.url, token)
        await wait_ready(api, server)
        yield server, api


async def test_backend_killed_repeatedly_loses_nothing(
    settings: Settings, workers: Workers, tmp_path: Path
) -> None:
    async with serving(settings, tmp_path) as (server, api):
        workers.start()
        workers.start()
        flows = []
        for f in range(3):
            leaves = [node(f"f{f}-leaf-{i}", data={"value": i, "sleep": 0.05}) for i in range(40)]
            mids = [node(f"f{f}-mid-{m}", "value", *leaves[m * 10 : m * 10 + 10]) for m in range(4)]
            flows.append(await api.create(node(f"f{f}-root", "value", *mids)))
        for _ in range(3):
            await asyncio.sleep(0.7)
            server.kill()
            server.start()
            await wait_ready(api, server)
        for flow in flows:
            done = await api.wait_flow(flow["id"], within=90)
            assert done["status"] == "completed"
            jobs = await api.jobs(flow["id"])
            assert jobs[flow["rootJobId"]]["result"] == sum(range(40))
            children_first(settings.redis_url, jobs)
        server.kill()
    async with await Store.open(settings.db) as store, store.db.read() as conn:
        async with conn.execute("PRAGMA integrity_check") as cursor:
            assert (await cursor.fetchone())[0] == "ok"
        async with conn.execute(
            "SELECT count(*) FROM events WHERE type = 'flow:job:updated' "
            "AND json_extract(payload, '$.status') = 'completed'"
        ) as cursor:
            completions = (await cursor.fetchone())[0]
    assert completions == 3 * 45  # every job's completion recorded exactly once


async def test_redis_restarted_empty_every_flow_completes(
    backend: Backend, workers: Workers, redis_server: RedisServer
) -> None:
    workers.start()
    await wait_workers(backend.api, 1)
    leaves = [node(f"leaf-{i}", "slow", data={"seconds": 1, "value": i}) for i in range(5)]
    flow = await backend.api.create(node("root", "value", *leaves))
    await backend.api.wait_flow(flow["id"], done=lambda f: f["counts"]["active"] >= 1)
    redis_server.restart_empty()
    done = await backend.api.wait_flow(flow["id"], within=60)
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["root"]["result"] == sum(range(5))


async def test_redis_flushed_while_jobs_wait_in_streams(
    backend: Backend, workers: Workers, redis_server: RedisServer
) -> None:
    # Jobs sent while no worker runs sit in Redis; FLUSHALL loses them. The
    # backend notices its marker is gone and sends them again.
    flow = await backend.api.create(node("root", "value", node("a", data={"value": 1})))
    await backend.api.wait_flow(flow["id"], done=lambda f: f["counts"]["waiting"] == 1)
    await asyncio.sleep(0.3)
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    workers.start()
    done = await backend.api.wait_flow(flow["id"], within=30)
    assert done["status"] == "completed"


async def test_in_memory_broker_without_tasks_is_refused(settings: Settings) -> None:
    from backend.dispatch.service import Execution
    from backend.errors import ConfigError

    async with await Store.open(settings.db) as store:
        with pytest.raises(ConfigError, match="--tasks"):
            await Execution.start(replace(settings, in_memory_broker=True), store.db)


async def test_worker_rides_out_a_redis_restart(
    backend: Backend, workers: Workers, redis_server: RedisServer
) -> None:
    # The worker process keeps running through a Redis restart (it retries
    # and recreates its consumer groups) instead of dying with the error.
    proc = workers.start()
    await wait_workers(backend.api, 1)
    redis_server.restart_empty()
    await asyncio.sleep(1.0)
    flow = await backend.api.create(node("root", "value", node("a", data={"value": 2})))
    done = await backend.api.wait_flow(flow["id"], within=30)
    assert done["status"] == "completed"
    assert proc.poll() is None
    log = (backend.settings.db.parent / "worker-0.log").read_text()
    assert "Traceback" not in log, log
