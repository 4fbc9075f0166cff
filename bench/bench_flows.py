"""Flow execution throughput against raw taskiq, measured in the same run.

(a) raw taskiq: N no-op tasks sent with ``kiq`` (one message at a time, as
    taskiq does) to ``RedisStreamBroker`` and completed by one ``taskiq
    worker`` process;
(b) the same number of jobs as Flowdesk flows through the backend (in this
    process) and one worker process: one root with N leaves; 200 flows of a
    root and 10 leaves; a chain of depth 200.

Prints jobs per second for each and the ratio to raw taskiq (median of the
repeats). Uses a private redis-server on a free port.

    python bench/bench_flows.py [--repeats 3] [--wide 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from backend.dispatch.service import Execution  # noqa: E402
from backend.domain.models import FlowStatus  # noqa: E402
from backend.domain.tree import JobSpec, flatten  # noqa: E402
from backend.settings import Settings  # noqa: E402
from backend.store.store import Store  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402


def spawn_worker(url: str, target: str, modules: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FLOWDESK_REDIS_URL": url, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "taskiq", "worker", target, modules, "--workers", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def bench_raw(url: str, n: int, workdir: Path) -> float:
    os.environ["FLOWDESK_REDIS_URL"] = url
    from bench import raw_tasks

    redis = Redis.from_url(url)
    await redis.flushdb()
    worker = spawn_worker(url, "bench.raw_tasks:broker", "bench.raw_tasks", workdir / "raw.log")
    try:
        await raw_tasks.broker.startup()
        await asyncio.sleep(1.5)  # let the worker create its group
        start = time.perf_counter()
        for _ in range(n):
            await raw_tasks.raw_noop.kiq()
        while int(await redis.get("bench:raw:done") or 0) < n:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        await raw_tasks.broker.shutdown()
        return n / elapsed
    finally:
        stop(worker)
        await redis.aclose()


def leaf(i: int) -> JobSpec:
    return JobSpec(name="noop", queue_name="jobQueue", data={"i": i})


def shapes(wide: int) -> dict[str, list[JobSpec]]:
    chain = leaf(0)
    for _depth in range(1, 200):
        chain = JobSpec(name="noop", queue_name="jobQueue", children=(chain,))
    return {
        f"wide (1 root + {wide} leaves)": [
            JobSpec(
                name="noop", queue_name="jobQueue", children=tuple(leaf(i) for i in range(wide))
            )
        ],
        "many (200 flows x 11 jobs)": [
            JobSpec(name="noop", queue_name="jobQueue", children=tuple(leaf(i) for i in range(10)))
            for _ in range(200)
        ],
        "chain (depth 200)": [chain],
    }


async def _active_flows(store: Store) -> int:
    query = "SELECT count(*) FROM flows WHERE status = 'active'"
    async with store.db.read() as conn, conn.execute(query) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def bench_flowdesk(
    url: str,
    roots: list[JobSpec],
    workdir: Path,
    prepare: Callable[[Store], Awaitable[object]] | None = None,
) -> tuple[float, int]:
    """Jobs per second through the backend; ``prepare(store)`` runs first (e.g.
    to set queue controls, see ``bench_limits.py``)."""
    redis = Redis.from_url(url)
    await redis.flushdb()
    await redis.aclose()
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    settings = replace(Settings(), db=db, redis_url=url, heartbeat_interval=0.5)
    worker = spawn_worker(url, "backend.worker:broker", "bench.flow_tasks", workdir / "fd.log")
    store = await Store.open(db)
    execution = await Execution.start(settings, store.db)
    try:
        user, _token = await store.create_user("bench")
        if prepare is not None:
            await prepare(store)
        while not await execution.registry.refresh(force=True):
            await asyncio.sleep(0.1)
        counter = iter(range(10**9))
        new_id = lambda: f"j{next(counter)}"  # noqa: E731
        trees = []
        for index, root in enumerate(roots):
            flow_id = f"flow-{index}"
            trees.append((flow_id, flatten(root, flow_id, int(time.time() * 1000), new_id)))
        jobs = sum(len(jobs) for _, jobs in trees)
        start = time.perf_counter()
        for flow_id, flow_jobs in trees:
            await store.create_flow(user.id, flow_id, "noop", flow_jobs)
        while await _active_flows(store):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        query = "SELECT DISTINCT status FROM flows"
        async with store.db.read() as conn, conn.execute(query) as cursor:
            assert [row[0] async for row in cursor] == [FlowStatus.COMPLETED.value]
        return jobs / elapsed, jobs
    finally:
        await execution.close()
        await store.close()
        stop(worker)


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, Path]]:
    """A private redis-server's URL and a scratch directory, both gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="flowdesk-bench-"))
    server = RedisServer(workdir)
    server.start()
    try:
        yield server.url, workdir
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wide", type=int, default=2000)
    args = parser.parse_args()
    with private_redis() as (url, workdir):
        results: dict[str, list[float]] = {}
        counts: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, roots in shapes(args.wide).items():
                rate, jobs = await bench_flowdesk(url, roots, workdir)
                results.setdefault(name, []).append(rate)
                counts[name] = jobs
                raw = await bench_raw(url, jobs, workdir)
                results.setdefault(f"raw:{name}", []).append(raw)
        print(f"{'shape':32} {'jobs':>6} {'flowdesk j/s':>13} {'raw taskiq j/s':>15} {'ratio':>6}")
        for name in shapes(args.wide):
            fd = statistics.median(results[name])
            raw = statistics.median(results[f"raw:{name}"])
            print(f"{name:32} {counts[name]:>6} {fd:>13.0f} {raw:>15.0f} {fd / raw:>6.2f}")
        print(f"(median of {args.repeats} runs each; raw taskiq run with the same job count)")


if __name__ == "__main__":
    asyncio.run(main())
