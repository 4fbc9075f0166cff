"""Queue controls through real workers, judged from the tasks' own start and end times.

The dispatcher enforces every control; workers know nothing of them. Each
test reads the records the tasks themselves wrote (``e2e:runs``), not the
backend's view, so a control that leaked would show as overlapping runs.
Allowances for worker start-up latency are stated where they apply; no test
asserts how fast anything ran.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.kit import Api, Backend, Workers, node, runs, wait_workers
from tests.spans import max_overlap


def spans_of(redis_url: str, prefix: str) -> list[tuple[float, float]]:
    return [(r["start"], r["end"]) for r in runs(redis_url) if r["job"].startswith(prefix)]


async def limit(api: Api, queue: str, **body: Any) -> None:
    await api.ok("PATCH", f"/queues/{queue}", body)


async def test_concurrency_two_never_overlaps_more_than_two(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    workers.start()
    await wait_workers(backend.api, 2)
    await limit(backend.api, "jobQueue", concurrency=2)
    leaves = [node(f"c-{i}", data={"sleep": 0.3}) for i in range(10)]
    flow = await backend.api.create(node("root", "value", *leaves, queue="flowQueue"))
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    spans = spans_of(backend.settings.redis_url, "c-")
    assert len(spans) == 10
    assert max_overlap(spans) <= 2


async def test_a_parent_waiting_for_children_holds_no_slot(
    backend: Backend, workers: Workers
) -> None:
    """With one slot, a parent in the same queue would deadlock its children if it held it."""
    workers.start()
    await limit(backend.api, "jobQueue", concurrency=1)
    tree = node("p", "value", node("p-a", data={"value": 1}), node("p-b", data={"value": 2}))
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    assert (await backend.api.jobs(flow["id"]))["p"]["result"] == 3
    assert max_overlap(spans_of(backend.settings.redis_url, "p")) == 1


async def test_rate_limit_five_per_second(backend: Backend, workers: Workers) -> None:
    workers.start()
    workers.start()
    await wait_workers(backend.api, 2)
    await limit(backend.api, "jobQueue", rateLimit={"max": 5, "duration": 1000})
    leaves = [node(f"r-{i}") for i in range(20)]
    flow = await backend.api.create(node("root", "value", *leaves, queue="flowQueue"))
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    starts = sorted(start for start, _end in spans_of(backend.settings.redis_url, "r-"))
    assert len(starts) == 20
    # The backend sends at most 5 per sliding second, exactly (checked on the
    # store's own send log below); a task starts when its worker gets to it,
    # so its start may lag its send: allow that lag, no more.
    lag = 0.5  # without the limit all 20 would start within a few tens of ms
    for first, sixth in zip(starts, starts[5:], strict=False):
        assert sixth - first >= 1.0 - lag, starts
    async with (
        backend.store.db.read() as conn,
        conn.execute(
            "SELECT sent_at FROM queue_sends WHERE queue_name = 'jobQueue' ORDER BY sent_at"
        ) as cursor,
    ):
        sends = [row[0] async for row in cursor]
    for first, sixth in zip(sends, sends[5:], strict=False):
        assert sixth - first >= 1000, sends


async def test_key_concurrency_serialises_each_key_and_runs_keys_side_by_side(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    workers.start()
    await wait_workers(backend.api, 2)
    await limit(backend.api, "jobQueue", keyConcurrency=1)
    leaves = [
        node(f"k{key}-{i}", data={"sleep": 0.3}, opts={"concurrencyKey": f"customer-{key}"})
        for key in range(3)
        for i in range(3)
    ]
    flow = await backend.api.create(node("root", "value", *leaves, queue="flowQueue"))
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    url = backend.settings.redis_url
    for key in range(3):
        assert max_overlap(spans_of(url, f"k{key}-")) == 1, key
    # nine 0.3 s jobs of three keys, all sent together: the keys ran side by side
    assert max_overlap(spans_of(url, "k")) >= 2


async def test_a_paused_queue_starts_nothing_until_resumed(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    await wait_workers(backend.api, 1)
    await backend.api.ok("POST", "/queues/jobQueue/pause")
    leaves = [node(f"z-{i}") for i in range(5)]
    flow = await backend.api.create(node("root", "value", *leaves, queue="flowQueue"))

    async def all_held() -> dict[str, dict[str, Any]]:
        while True:
            jobs = await backend.api.jobs(flow["id"])
            if all(jobs[f"z-{i}"]["heldBy"] == "paused" for i in range(5)):
                return jobs
            await asyncio.sleep(0.05)

    jobs = await asyncio.wait_for(all_held(), 30)
    assert {jobs[f"z-{i}"]["status"] for i in range(5)} == {"waiting"}
    await asyncio.sleep(1.0)  # time for a leak to show: nothing may have started
    assert spans_of(backend.settings.redis_url, "z-") == []
    assert (await backend.api.ok("GET", f"/flows/{flow['id']}"))["counts"]["active"] == 0

    await backend.api.ok("POST", "/queues/jobQueue/resume")
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert all(job["heldBy"] is None for job in jobs.values())
    assert len(spans_of(backend.settings.redis_url, "z-")) == 5


async def test_pausing_takes_back_messages_no_worker_started(
    backend: Backend, workers: Workers
) -> None:
    """Sent before the pause, not started: no worker runs them until the resume."""
    leaves = [node(f"w-{i}") for i in range(5)]
    flow = await backend.api.create(node("root", "value", *leaves, queue="flowQueue"))

    async def all_sent() -> None:
        while True:
            async with (
                backend.store.db.read() as conn,
                conn.execute(
                    "SELECT count(*) FROM flow_jobs WHERE job_id LIKE 'w-%' AND dispatched = 1"
                ) as cursor,
            ):
                row = await cursor.fetchone()
            if row is not None and row[0] == 5:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_sent(), 30)  # no worker yet: the messages wait in Redis
    await backend.api.ok("POST", "/queues/jobQueue/pause")

    async def all_held() -> None:
        while True:
            jobs = await backend.api.jobs(flow["id"])
            if all(jobs[f"w-{i}"]["heldBy"] == "paused" for i in range(5)):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_held(), 30)
    workers.start()
    await wait_workers(backend.api, 1)
    await asyncio.sleep(1.0)  # time for a leak to show: nothing may have started
    assert spans_of(backend.settings.redis_url, "w-") == []
    await backend.api.ok("POST", "/queues/jobQueue/resume")
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    assert len(spans_of(backend.settings.redis_url, "w-")) == 5  # each ran once
