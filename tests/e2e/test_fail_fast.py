"""Fail fast through real workers: a doomed parent's running and queued work is cancelled."""

from __future__ import annotations

import asyncio

import redis

from tests.e2e.kit import Backend, Workers, node, runs, wait_workers


async def test_fail_fast_cancels_a_running_sibling_and_a_queued_one(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    await wait_workers(backend.api, 1)
    await backend.api.ok("POST", "/queues/webhooks/pause")  # keeps "queued" queued
    tree = node(
        "root",
        "value",
        node("running", "spanned", data={"seconds": 30}),
        node("queued", queue="webhooks"),
        # fails once "running" has started
        node("doomed", "boom", opts={"failParentOnFailure": True, "delay": 1000}),
        queue="flowQueue",
    )
    tree["failFast"] = True  # the flow's default: every parent fails fast
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "failed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["root"]["opts"]["failFast"] is True
    assert jobs["root"]["error"]["type"] == "ChildFailed"
    assert (jobs["running"]["status"], jobs["queued"]["status"]) == ("cancelled", "cancelled")
    assert jobs["queued"]["heldBy"] is None

    # the worker running "running" was asked to stop, and stopped
    await stopped(backend.settings.redis_url, b"running")
    assert "running" not in {run["job"] for run in runs(backend.settings.redis_url)}

    # resuming the queue sends nothing: the queued sibling stays cancelled
    await backend.api.ok("POST", "/queues/webhooks/resume")
    await asyncio.sleep(0.5)
    assert (await backend.api.jobs(flow["id"]))["queued"]["status"] == "cancelled"


async def test_a_failure_the_backend_decides_also_stops_running_siblings(
    backend: Backend, workers: Workers
) -> None:
    """Fail fast through the dispatcher's own failure (no worker knows the task),
    not a worker's event: the running sibling is still asked to stop."""
    workers.start()
    await wait_workers(backend.api, 1)
    tree = node(
        "root",
        "value",
        node("busy", "spanned", data={"seconds": 30}),
        node("ghost", "no-such-task", opts={"failParentOnFailure": True, "delay": 1000}),
        queue="flowQueue",
        opts={"failFast": True},
    )
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "failed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["ghost"]["error"]["type"] == "UnknownTask"
    assert jobs["busy"]["status"] == "cancelled"
    await stopped(backend.settings.redis_url, b"busy")


async def stopped(redis_url: str, job_id: bytes) -> None:
    """Wait until the task of ``job_id`` recorded that it was asked to stop."""
    client = redis.Redis.from_url(redis_url)
    try:
        for _ in range(600):
            if client.lrange("e2e:cancelled", 0, -1) == [job_id]:
                return
            await asyncio.sleep(0.05)
        assert client.lrange("e2e:cancelled", 0, -1) == [job_id]
    finally:
        client.close()
