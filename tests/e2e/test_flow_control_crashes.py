"""Limits hold through a worker killed with SIGKILL and a backend killed with SIGKILL.

The slot count is derived from the store (sent and unfinished jobs), so a
killed worker's job keeps its slot until the backend retries it as stalled,
and a restarted backend enforces the same cap without remembering anything.
Judged from the tasks' own records: ``spanned`` records its start before it
sleeps, so a run that a kill cut short still counts, open until the kill.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import redis

from backend.settings import Settings
from tests.e2e.kit import Workers, node, runs, wait_workers
from tests.e2e.test_crashes import serving, wait_ready
from tests.spans import max_overlap


def spans(redis_url: str, killed_at: float) -> list[tuple[float, float]]:
    """Every run's (start, end). Runs are keyed by their start (one task run,
    one start); a run with no end record was cut short by the kill."""
    client = redis.Redis.from_url(redis_url)
    try:
        starts = [json.loads(raw) for raw in client.lrange("e2e:starts", 0, -1)]
    finally:
        client.close()
    ends = {(r["job"], r["attempt"], r["start"]): r["end"] for r in runs(redis_url)}
    return [(s["start"], ends.get((s["job"], s["attempt"], s["start"]), killed_at)) for s in starts]


async def test_concurrency_holds_through_worker_and_backend_kills(
    settings: Settings, workers: Workers, tmp_path: Path
) -> None:
    async with serving(settings, tmp_path) as (server, api):
        doomed = workers.start()
        workers.start()
        await wait_workers(api, 2)
        await api.ok("PATCH", "/queues/jobQueue", {"concurrency": 2})
        leaves = [node(f"s-{i}", "spanned", data={"seconds": 0.5}) for i in range(12)]
        flow = await api.create(node("root", "value", *leaves, queue="flowQueue"))

        await api.wait_flow(flow["id"], done=lambda f: f["counts"]["active"] == 2)
        workers.kill(doomed)  # its job keeps its slot until retried as stalled
        killed_at = time.time()
        await asyncio.sleep(0.5)
        server.kill()
        await asyncio.sleep(0.3)
        server.start()
        await wait_ready(api, server)
        workers.start()
        done = await api.wait_flow(flow["id"], within=90)
        assert done["status"] == "completed"
        server.kill()
    observed = spans(settings.redis_url, killed_at)
    assert len(observed) >= 12
    assert all(start <= end for start, end in observed)  # only the kill cut runs short
    assert max_overlap(observed) <= 2
