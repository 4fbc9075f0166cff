"""The backend's in-process worker: on Redis (``--tasks``) and without Redis."""

from __future__ import annotations

from dataclasses import replace

from backend.api.routes.execution import EXECUTION
from backend.settings import Settings
from tests.e2e.kit import node, start_backend, stop_backend, wait_workers

EXAMPLES = "backend.examples.tasks"


def demo_tree() -> dict[str, object]:
    return node(
        "root",
        "sum",
        node("a", "echo", data=2),
        node("b", "sleep", data={"seconds": 0.1, "value": 3}),
        node("c", "fail", data={"times": 1, "value": 4}, opts={"attempts": 2}),
        data={"add": 1},
    )


async def test_inprocess_worker_on_redis(settings: Settings) -> None:
    backend = await start_backend(replace(settings, tasks=(EXAMPLES,)))
    try:
        await wait_workers(backend.api, 1)
        workers = (await backend.api.ok("GET", "/workers"))["items"]
        assert {"echo", "sleep", "sum", "fail", "http"} <= set(workers[0]["tasks"])
        flow = await backend.api.create(demo_tree())
        done = await backend.api.wait_flow(flow["id"])
        assert done["status"] == "completed"
        jobs = await backend.api.jobs(flow["id"])
        assert jobs["root"]["result"] == 2 + 3 + 4 + 1
        assert jobs["c"]["attemptsMade"] == 2
        assert jobs["b"]["progress"] == 100
    finally:
        await stop_backend(backend)


async def test_in_memory_broker_without_redis(settings: Settings) -> None:
    no_redis = replace(
        settings, tasks=(EXAMPLES,), in_memory_broker=True, redis_url="redis://127.0.0.1:1/0"
    )
    backend = await start_backend(no_redis)
    try:
        flow = await backend.api.create(demo_tree())
        done = await backend.api.wait_flow(flow["id"])
        assert done["status"] == "completed"
        jobs = await backend.api.jobs(flow["id"])
        assert jobs["root"]["result"] == 10
        unknown = await backend.api.create(node("u-root", "sum", node("u", "nope")))
        stuck = await backend.api.wait_flow(unknown["id"], done=lambda f: f["stuck"] is not None)
        assert stuck["stuck"]["jobId"] == "u"
    finally:
        await stop_backend(backend)


async def test_cancel_stops_a_running_in_memory_task(settings: Settings) -> None:
    no_redis = replace(
        settings, tasks=(EXAMPLES,), in_memory_broker=True, redis_url="redis://127.0.0.1:1/0"
    )
    backend = await start_backend(no_redis)
    try:
        flow = await backend.api.create(
            node("root", "sum", node("long", "sleep", data={"seconds": 30, "value": 1}))
        )
        await backend.api.wait_flow(flow["id"], done=lambda f: f["counts"]["active"] == 1)
        cancelled = await backend.api.ok("POST", f"/flows/{flow['id']}/cancel")
        assert cancelled["status"] == "cancelled"
        # the in-process task was really stopped: it reported nothing after the cancel
        jobs = await backend.api.jobs(flow["id"])
        assert jobs["long"]["status"] == "cancelled"
        worker = backend.server.app[EXECUTION].worker
        assert worker is not None
        assert "long" not in worker.broker.runtime.running
    finally:
        await stop_backend(backend)
