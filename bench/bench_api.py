"""Benchmark the REST API end to end: real server process, real socket, real SQLite.

Measures ``POST /flows`` for trees of 10, 1,000 and 10,000 jobs (median of 5
runs each) and the rate of ``GET /flows?limit=50`` with 100,000 flows stored,
against a same-run HTTP baseline (``GET /health``). For the 10,000-job create
it also times the stages in-process (decode, validate, flatten, store) so a
slow total points at its cause.

With ``search`` (or by default, after the above) it runs ``bench_search``:
every ``GET /flows`` filter and ``GET /jobs`` with 100,000 flows and 1,000,000
jobs stored against an empty database, a bulk retry of 1,000 flows and
pruning 100,000 flows, with the worst ``POST /flows`` latency meanwhile.

Run from the repository root: ``PYTHONPATH=. python bench/bench_api.py [api|search|prune]``
(about a minute for ``api``, a few more for ``search``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from backend.api.validation import parse_json, validate_tree
from backend.domain.models import Job
from backend.domain.tree import flatten
from backend.settings import Settings
from backend.store.rows import INSERT_JOB, jobs_to_rows
from backend.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
STORED_FLOWS = 100_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(size: int) -> dict[str, Any]:
    """About ``size`` jobs: a root, ~sqrt(size) children, the rest as grandchildren."""
    width = max(1, int((size - 1) ** 0.5))
    remaining = size - 1 - width
    children = []
    for i in range(width):
        share = remaining // width + (1 if i < remaining % width else 0)
        children.append({
            "name": f"child-{i}", "queueName": "jobQueue", "data": {"i": i},
            "children": [{"name": "leaf", "queueName": "webhooks", "data": {"i": i, "j": j},
                          "opts": {"attempts": 3, "backoff": 100}} for j in range(share)],
        })  # fmt: skip
    return {"name": "bench", "queueName": "flowQueue", "children": children}


def count(node: dict[str, Any]) -> int:
    total, stack = 0, [node]
    while stack:
        item = stack.pop()
        total += 1
        stack.extend(item.get("children", []))
    return total


async def seed_flows(store: Store, user_id: str, n: int) -> None:
    """Insert ``n`` one-job flows in a few transactions (setup only, not measured)."""
    now = int(time.time() * 1000)
    batch = 10_000
    for start in range(0, n, batch):
        flows, jobs = [], []
        for i in range(start, min(n, start + batch)):
            flow_id = f"seed-{i:06d}"
            root = {"name": f"seeded {i}", "queueName": "jobQueue", "data": {"i": i}}
            spec = validate_tree(root, Settings()).root
            (job,) = flatten(spec, flow_id, now + i, lambda f=flow_id: f"{f}-{os.urandom(6).hex()}")
            jobs.append(job)
            flows.append((flow_id, f"seeded {i}", user_id, "active", job.job_id, now + i, now + i))
        async with store.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO flows (id, name, user_id, status, root_job_id, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                flows,
            )
            await conn.executemany(INSERT_JOB, jobs_to_rows(jobs))


async def rate(call: Callable[[], Awaitable[None]], seconds: float = 3.0) -> float:
    """Sequential calls per second on one keep-alive connection."""
    for _ in range(20):
        await call()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        await call()
        done += 1
    return done / (time.perf_counter() - start)


async def stages(body: dict[str, Any], workdir: Path) -> dict[str, float]:
    """Where the time of one 10,000-job create goes, measured in-process."""
    raw = json.dumps(body).encode()
    settings = Settings()
    out: dict[str, float] = {}
    t = time.perf_counter()
    decoded = parse_json(raw)
    out["decode JSON"] = time.perf_counter() - t
    t = time.perf_counter()
    checked = validate_tree(decoded, settings)
    out["validate tree"] = time.perf_counter() - t
    t = time.perf_counter()
    jobs: list[Job] = flatten(checked.root, "stage-flow", 0, lambda: os.urandom(16).hex())
    out["flatten"] = time.perf_counter() - t
    store = await Store.open(workdir / "stages.db")
    try:
        user, _ = await store.create_user("stages")
        t = time.perf_counter()
        await store.create_flow(user.id, "stage-flow", "bench", jobs)
        out["store.create_flow"] = time.perf_counter() - t
    finally:
        await store.close()
    return out


async def wait_ready(
    session: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process
) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            async with session.get(f"{url}/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        await asyncio.sleep(0.1)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db = workdir / "bench.db"
        store = await Store.open(db)
        user, token = await store.create_user("bench")
        t = time.perf_counter()
        await seed_flows(store, user.id, STORED_FLOWS)
        seed_seconds = time.perf_counter() - t
        await store.close()

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "backend", "serve", "--db", str(db), "--port", str(port),
            "--log-level", "WARNING",
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with aiohttp.ClientSession(headers=headers) as session:
                await wait_ready(session, url, proc)

                async def health() -> None:
                    async with session.get(f"{url}/health") as resp:
                        await resp.read()

                async def list_page() -> None:
                    async with session.get(f"{url}/flows?limit=50") as resp:
                        assert resp.status == 200
                        await resp.read()

                async def no_db() -> None:
                    # the bare HTTP + middleware cost: no token, so no SQLite at all
                    async with session.get(f"{url}/flows", headers={"Authorization": ""}) as resp:
                        assert resp.status == 401
                        await resp.read()

                bare_rate = await rate(no_db)
                health_rate = await rate(health)
                list_rate = await rate(list_page)

                creates: list[tuple[int, float, int]] = []
                for size in (10, 1_000, 10_000):
                    body = tree(size)
                    payload = json.dumps(body).encode()
                    times = []
                    for _ in range(RUNS):
                        t = time.perf_counter()
                        async with session.post(
                            f"{url}/flows", data=payload,
                            headers={"Content-Type": "application/json"},
                        ) as resp:  # fmt: skip
                            assert resp.status == 201, await resp.text()
                            await resp.read()
                        times.append(time.perf_counter() - t)
                    creates.append((count(body), statistics.median(times), len(payload)))
        finally:
            proc.terminate()
            await proc.wait()
        breakdown = await stages(tree(10_000), workdir)

    health_ms = 1000 / health_rate
    print(f"setup: {STORED_FLOWS:,} flows seeded in {seed_seconds:.1f} s\n")
    print(f"{'measurement':<38} {'value':>14} {'vs GET /health':>15}")
    print(f"{'GET /flows, no token (401, no SQLite)':<38} {bare_rate:>10,.0f} /s "
          f"{bare_rate / health_rate:>14.2f}x")  # fmt: skip
    print(f"{'GET /health (baseline: SELECT 1)':<38} {health_rate:>10,.0f} /s {'1.00x':>15}")
    print(f"{'GET /flows?limit=50 (100k stored)':<38} {list_rate:>10,.0f} /s "
          f"{list_rate / health_rate:>14.2f}x")  # fmt: skip
    for jobs, seconds, size in creates:
        label = f"POST /flows, {jobs:,} jobs ({size / 1024:,.0f} KiB)"
        print(f"{label:<38} {seconds * 1000:>11.1f} ms {seconds * 1000 / health_ms:>14.0f}x")
    print("\n10,000-job create, in-process stages:")
    for name, seconds in breakdown.items():
        print(f"  {name:<20} {seconds * 1000:>8.1f} ms")


if __name__ == "__main__":
    from bench import bench_search

    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    if part in {"all", "api"}:
        asyncio.run(main())
    if part in {"all", "search"}:
        asyncio.run(bench_search.main())
    if part == "prune":  # the pruning part of search alone
        asyncio.run(bench_search.main(only_pruning=True))
