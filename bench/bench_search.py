"""Finding, acting on and pruning a month of flows: 100,000 flows, 1,000,000 jobs.

Every figure is measured against a real ``backend serve`` process over a
real socket, and compared with a baseline from the same run:

- each ``GET /flows`` filter and ``GET /jobs`` search, p50 and p99 of 180
  sequential requests, against the same query on an empty database and on
  one holding 1,000 flows of the same shape (all served alongside, requests
  alternating between them): the empty database answers empty pages, so the
  1,000-flow one, whose pages are as full, isolates what the table's size
  costs;
- a bulk retry of 1,000 failed flows (one ``POST /flows/bulk``), and the
  worst ``POST /flows`` latency while it runs, against the worst on the idle
  server;
- pruning the 95,000 finished flows (the background pruner, started with
  ``retention`` on and a zero age), the worst ``POST /flows`` latency
  meanwhile, and the file's size before and after.

Run from the repository root: ``PYTHONPATH=. python bench/bench_api.py search``
(a few minutes; the seeded database is about 500 MB in a temporary directory).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp

from backend.store.store import Store
from bench.search_seed import DAY_MS, FLOWS, JOBS_PER_FLOW, failed_flow_ids, seed

ROOT = Path(__file__).resolve().parents[1]
ROUNDS, PER_ROUND = 3, 60
SMALL = 1_000  # the same history, a hundredth of it: pages as full, tables small


def queries(now: int) -> list[str]:
    day_ago = quote(datetime.fromtimestamp((now - DAY_MS) / 1000, tz=UTC).isoformat())
    month_ago = str(now - 29 * DAY_MS)
    return [
        "/flows?limit=50",
        "/flows?status=failed",
        "/flows?status=failed&status=cancelled",
        "/flows?meta.customer=c7",
        "/flows?meta.customer=c7&meta.tier=1",
        "/flows?task=fetch",
        "/flows?jobId=j0050000-3",
        f"/flows?createdAfter={day_ago}",
        f"/flows?createdBefore={month_ago}",
        f"/flows?finishedAfter={day_ago}",
        "/flows?sort=finished",
        "/flows?sort=duration",
        "/flows?meta.customer=c7&status=failed&task=fetch",
        "/flows?q=report-7",
        "/jobs?state=failed",
        "/jobs?state=failed&errorType=ValueError",
        f"/jobs?task=fetch&finishedAfter={day_ago}",
        "/jobs?queue=webhooks",
    ]


@dataclass
class Server:
    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str) -> float:
        t = time.perf_counter()
        async with self.session.get(self.url + path) as resp:
            assert resp.status == 200, (path, await resp.text())
            await resp.read()
        return time.perf_counter() - t

    async def post(self, path: str, body: object) -> tuple[float, object]:
        t = time.perf_counter()
        async with self.session.post(self.url + path, json=body) as resp:
            data = await resp.json()
            assert resp.status < 300, (path, data)
        return time.perf_counter() - t, data


@asynccontextmanager
async def serving(
    db: Path, token: str, *flags: str, log: Path | None = None
) -> AsyncIterator[Server]:
    from bench.bench_api import free_port, wait_ready

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend", "serve", "--db", str(db), "--port", str(port),
        "--log-level", "WARNING", "--in-memory-broker", "--tasks", "backend.examples.tasks",
        *flags, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if log is None else log.open("wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            await wait_ready(session, url, proc)
            yield Server(url, session)
    finally:
        proc.terminate()
        await proc.wait()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def compare_queries(servers: dict[str, Server], now: int) -> None:
    print("\nms, p50 / p99; ratios of the p50s")
    print(f"{'query':<52} {'empty':>15} {'1k flows':>15} {'100k flows':>15} "
          f"{'/empty':>7} {'/1k':>6}")  # fmt: skip
    for path in queries(now):
        samples: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(ROUNDS):
            for name, server in servers.items():
                for _ in range(PER_ROUND):
                    samples[name].append(await server.get(path))
        cells = " ".join(
            f"{pct(samples[n], 0.5):>6.2f} / {pct(samples[n], 0.99):>6.2f}" for n in servers
        )
        full = pct(samples["full"], 0.5)
        print(
            f"{path[:52]:<52} {cells} {full / pct(samples['empty'], 0.5):>7.2f} "
            f"{full / pct(samples['small'], 0.5):>6.2f}"
        )


async def post_latencies(server: Server, stop: asyncio.Event) -> list[float]:
    """``POST /flows`` (a one-job echo flow) back to back until ``stop``."""
    body = {"name": "echo", "queueName": "jobQueue", "data": 1}
    out: list[float] = []
    while not stop.is_set():
        seconds, _ = await server.post("/flows", body)
        out.append(seconds)
        await asyncio.sleep(0.005)
    return out


async def idle_posts(server: Server, seconds: float = 3.0) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.create_task(post_latencies(server, stop))
    await asyncio.sleep(seconds)
    stop.set()
    return await task


async def bulk_retry(full: Server) -> None:
    idle = await idle_posts(full)
    stop = asyncio.Event()
    posts = asyncio.create_task(post_latencies(full, stop))
    ids = failed_flow_ids(1_000)
    seconds, answer = await full.post("/flows/bulk", {"action": "retry", "ids": ids})
    stop.set()
    during = await posts
    assert isinstance(answer, dict)
    print(f"\nbulk retry of {len(ids):,} failed flows: {seconds * 1000:,.0f} ms "
          f"({answer['ok']:,} ok)")  # fmt: skip
    print(f"  POST /flows meanwhile: worst {max(during) * 1000:.1f} ms, p50 "
          f"{pct(during, 0.5):.1f} ms ({len(during)} posts); idle server: worst "
          f"{max(idle) * 1000:.1f} ms, p50 {pct(idle, 0.5):.1f} ms")  # fmt: skip


def size(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


async def pruning(db: Path, token: str) -> None:
    before = size(db)
    log = db.with_suffix(".log")
    # every finished flow is past a zero age; the pruner's first pass starts with the server
    flags = ("--retention", "on", "--retention-completed-days", "1e-12",
             "--retention-failed-days", "1e-12", "--retention-interval", "3600",
             "--log-level", "INFO")  # fmt: skip
    started = time.perf_counter()
    async with serving(db, token, *flags, log=log) as server:
        stop = asyncio.Event()
        posts = asyncio.create_task(post_latencies(server, stop))
        while 'msg="retention pruned flows"' not in log.read_text(errors="replace"):
            await asyncio.sleep(0.2)
        took = time.perf_counter() - started
        stop.set()
        during = await posts
    line = next(x for x in log.read_text().splitlines() if 'msg="retention pruned flows"' in x)
    found = re.search(r"flows=([0-9]+)", line)
    assert found is not None, line
    deleted = int(found.group(1))
    print(f"\npruning {deleted:,} finished flows (and their jobs): the pass ended "
          f"{took:.1f} s after the server started")  # fmt: skip
    print(
        f"  POST /flows meanwhile: worst {max(during) * 1000:.1f} ms, p50 "
        f"{pct(during, 0.5):.1f} ms, p99 {pct(during, 0.99):.1f} ms ({len(during)} posts)"
    )
    print(f"  file (with its WAL): {before / 1e6:,.0f} MB before, {size(db) / 1e6:,.0f} MB after")


async def main(*, only_pruning: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokens = {}
        now = int(time.time() * 1000)
        wanted = (("full", FLOWS),) if only_pruning else (("empty", 0), ("small", SMALL),
                                                            ("full", FLOWS))  # fmt: skip
        for name, flows in wanted:
            store = await Store.open(work / f"{name}.db")
            user, tokens[name] = await store.create_user("bench")
            await store.close()
            if flows:
                took = seed(work / f"{name}.db", user.id, flows, now=now)
                print(f"setup: {flows:,} flows, {flows * JOBS_PER_FLOW:,} jobs seeded in "
                      f"{took:.1f} s ({size(work / f'{name}.db') / 1e6:,.0f} MB)")  # fmt: skip
        if only_pruning:
            await pruning(work / "full.db", tokens["full"])
            return
        off = ("--retention", "off")
        async with (
            serving(work / "empty.db", tokens["empty"], *off) as empty,
            serving(work / "small.db", tokens["small"], *off) as small,
            serving(work / "full.db", tokens["full"], *off) as full,
        ):
            await compare_queries({"empty": empty, "small": small, "full": full}, now)
            await bulk_retry(full)
        await pruning(work / "full.db", tokens["full"])


if __name__ == "__main__":
    asyncio.run(main())
