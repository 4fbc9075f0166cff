"""Failure policies, retries, delays, timeouts, cancel and retry through real workers."""

from __future__ import annotations

import asyncio

from tests.e2e.kit import Backend, Workers, node, runs


async def test_default_failure_makes_flow_stuck_then_retry_continues(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    flow = await backend.api.create(
        node("root", "value", node("bad", "boom"), node("ok", data={"value": 1}))
    )
    stuck = await backend.api.wait_flow(flow["id"], done=lambda f: f["stuck"] is not None)
    assert stuck["status"] == "active"
    assert stuck["stuck"]["jobId"] == "bad"
    assert "boom" in stuck["stuck"]["reason"]
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["root"]["status"] == "waiting-children"
    assert jobs["bad"]["error"]["type"] == "ValueError"
    assert "Traceback" in jobs["bad"]["error"]["traceback"]
    # An operator retries the failed job; it fails again (boom always fails) ...
    status, _ = await backend.api.call("POST", "/jobs/bad/retry")
    assert status == 200
    await backend.api.wait_flow(flow["id"], done=lambda f: f["counts"]["failed"] == 1)
    # ... so retrying a job that is not failed is refused.
    status, body = await backend.api.call("POST", "/jobs/ok/retry")
    assert status == 409
    assert body["error"]["code"] == "invalid_state"


async def test_retry_of_stuck_flow_completes_it(backend: Backend, workers: Workers) -> None:
    workers.start()
    flow = await backend.api.create(
        node("root", "value", node("flaky", "flaky", data={"fails": 1}), data={"value": 5})
    )
    await backend.api.wait_flow(flow["id"], done=lambda f: f["stuck"] is not None)
    retried = await backend.api.ok("POST", f"/flows/{flow['id']}/retry")
    assert retried["stuck"] is None
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["flaky"]["attemptsMade"] == 2
    assert jobs["root"]["result"] == 5


async def test_policies(backend: Backend, workers: Workers) -> None:
    workers.start()
    fail_parent = await backend.api.create(
        node("fp-root", "value", node("fp-p", "value",
             node("fp-bad", "boom", opts={"failParentOnFailure": True}))),
    )  # fmt: skip
    ignore = await backend.api.create(
        node("ig-root", "collect", node("ig-bad", "boom", opts={"ignoreDependencyOnFailure": True}),
             node("ig-ok", data={"value": 7})),
    )  # fmt: skip
    remove = await backend.api.create(
        node("rm-root", "collect", node("rm-bad", "boom", opts={"removeDependencyOnFailure": True}),
             node("rm-ok", data={"value": 8})),
    )  # fmt: skip
    cont = await backend.api.create(
        node("co-root", "collect", node("co-bad", "boom", opts={"continueParentOnFailure": True}),
             node("co-slow", "slow", data={"seconds": 1.5, "value": 9})),
    )  # fmt: skip

    # fp-bad fails its parent fp-p; fp-p's own (default) policy keeps the root
    # waiting, so the flow is stuck on fp-p.
    done = await backend.api.wait_flow(fail_parent["id"], done=lambda f: f["stuck"] is not None)
    assert done["stuck"]["jobId"] == "fp-p"
    jobs = await backend.api.jobs(fail_parent["id"])
    assert jobs["fp-p"]["error"]["type"] == "ChildFailed"
    assert jobs["fp-root"]["status"] == "waiting-children"

    done = await backend.api.wait_flow(ignore["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(ignore["id"])
    assert jobs["ig-root"]["result"] == {
        "children": {"ig-ok": 7},
        "ignored": {"ig-bad": "ValueError"},
    }

    done = await backend.api.wait_flow(remove["id"])
    jobs = await backend.api.jobs(remove["id"])
    assert jobs["rm-root"]["result"] == {"children": {"rm-ok": 8}, "ignored": {}}

    done = await backend.api.wait_flow(cont["id"])
    jobs = await backend.api.jobs(cont["id"])
    # the parent started at once, before the slow sibling finished (the flow is
    # complete when its root is, even while that sibling still runs)
    slow_end = jobs["co-slow"]["finishedAt"]
    assert slow_end is None or jobs["co-root"]["startedAt"] < slow_end
    assert jobs["co-root"]["result"]["children"] == {}


async def test_attempts_with_backoff(backend: Backend, workers: Workers) -> None:
    workers.start()
    flow = await backend.api.create(
        node("root", "value", node("f", "flaky", data={"fails": 2},
             opts={"attempts": 3, "backoff": {"type": "exponential", "delay": 300}})),
    )  # fmt: skip
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    attempts = sorted((r["attempt"], r["start"]) for r in runs(backend.settings.redis_url)
                      if r["job"] == "f")  # fmt: skip
    assert [a for a, _ in attempts] == [1, 2, 3]
    # exponential: about 300 ms, then 600 ms between attempts (never less)
    assert attempts[1][1] - attempts[0][1] >= 0.3
    assert attempts[2][1] - attempts[1][1] >= 0.6
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["f"]["attemptsMade"] == 3


async def test_attempts_exhausted_fail_the_job(backend: Backend, workers: Workers) -> None:
    workers.start()
    flow = await backend.api.create(node("only", "boom", opts={"attempts": 2}))
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "failed"
    assert len([r for r in runs(backend.settings.redis_url) if r["job"] == "only"]) == 2


async def test_delay(backend: Backend, workers: Workers) -> None:
    workers.start()
    flow = await backend.api.create(node("d", "value", data={"value": 1}, opts={"delay": 800}))
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["d"]["status"] == "delayed"
    assert jobs["d"]["runAt"] is not None
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    [run] = runs(backend.settings.redis_url)
    created = flow["createdAt"]
    from datetime import datetime

    created_s = datetime.fromisoformat(created).timestamp()
    assert run["start"] - created_s >= 0.8


async def test_timeout_fails_attempt(backend: Backend, workers: Workers) -> None:
    workers.start()
    flow = await backend.api.create(node("t", "slow", data={"seconds": 5}, opts={"timeout": 300}))
    done = await backend.api.wait_flow(flow["id"], within=20)
    assert done["status"] == "failed"
    jobs = await backend.api.jobs(flow["id"])
    assert "timed out" in jobs["t"]["error"]["message"].lower() or "timeout" in (
        jobs["t"]["error"]["type"].lower()
    )


async def test_cancel_flow(backend: Backend, workers: Workers) -> None:
    workers.start()
    flow = await backend.api.create(
        node("root", "value", node("running", "slow", data={"seconds": 3}), node("later", "value"))
    )
    await backend.api.wait_flow(
        flow["id"], done=lambda f: f["counts"]["active"] >= 1 and f["counts"]["completed"] >= 1
    )
    cancelled = await backend.api.ok("POST", f"/flows/{flow['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    await asyncio.sleep(3.5)  # the running task would have finished by now
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["running"]["status"] == "cancelled"
    assert jobs["running"]["result"] is None
    assert jobs["root"]["status"] == "cancelled"
    assert "root" not in {r["job"] for r in runs(backend.settings.redis_url)}
    status, _body = await backend.api.call("POST", f"/flows/{flow['id']}/cancel")
    assert status == 409


async def test_unknown_task_fails_with_clear_error(backend: Backend, workers: Workers) -> None:
    workers.start()
    from tests.e2e.kit import wait_workers

    await wait_workers(backend.api, 1)
    flow = await backend.api.create(node("root", "value", node("x", "no_such_task")))
    done = await backend.api.wait_flow(flow["id"], done=lambda f: f["stuck"] is not None)
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["x"]["status"] == "failed"
    assert jobs["x"]["error"]["type"] == "UnknownTask"
    assert "no_such_task" in jobs["x"]["error"]["message"]
    assert "jobQueue" in jobs["x"]["error"]["message"]
    assert done["stuck"]["jobId"] == "x"
