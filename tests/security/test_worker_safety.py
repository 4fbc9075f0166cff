"""Worker-side safety, end to end: a misbehaving task fails its own job with a
clear error in the API, and the worker process that ran it keeps serving.

One real ``taskiq worker`` process runs a task that raises, one that hangs
past its timeout, one that returns something JSON cannot hold, and one that
returns more than ``max_result_bytes``; a plain job before and after must run
in the same worker process.
"""

from __future__ import annotations

from tests.e2e.kit import Backend, Workers, node, wait_workers

MODULES = ("tests.tasks.e2e_tasks", "tests.tasks.flow_tasks")


async def run_one(backend: Backend, tree: dict[str, object]) -> tuple[str, dict[str, object]]:
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"], within=60)
    jobs = await backend.api.jobs(flow["id"])
    return done["status"], jobs[flow["rootJobId"]]


async def test_bad_tasks_fail_their_jobs_never_the_worker(
    backend: Backend, workers: Workers
) -> None:
    proc = workers.start(*MODULES)
    await wait_workers(backend.api, 1)
    status, before = await run_one(backend, node("before", "t_sleep", data={"seconds": 0}))
    assert status == "completed"
    bad = {
        "raises": node("raises", "boom"),
        "hangs": node("hangs", "slow", data={"seconds": 60}, opts={"timeout": 500}),
        "unserialisable": node("unserialisable", "t_unserialisable"),
        "huge": node("huge", "t_huge", data={"size": 2 * 1024 * 1024}),
    }
    flows = {name: await backend.api.create(tree) for name, tree in bad.items()}
    errors = {}
    for name, flow in flows.items():
        done = await backend.api.wait_flow(flow["id"], within=60)
        assert done["status"] == "failed", (name, done)
        job = (await backend.api.jobs(flow["id"]))[flow["rootJobId"]]
        assert job["status"] == "failed"
        errors[name] = job["error"]
        detail = await backend.api.ok("GET", f"/jobs/{flow['rootJobId']}")
        assert detail["error"] == job["error"]
    assert errors["raises"]["type"] == "ValueError"
    assert errors["raises"]["message"] == "boom"
    assert "raise ValueError" in errors["raises"]["traceback"]
    assert errors["hangs"]["type"] == "TimeoutError"
    assert errors["unserialisable"]["type"] == "ResultNotSerializable"
    assert "object" in errors["unserialisable"]["message"]
    assert errors["huge"]["type"] == "ResultTooLarge"
    assert str(backend.settings.max_result_bytes) in errors["huge"]["message"].replace(",", "")
    # the same worker process is still there and serves the next job
    assert proc.poll() is None
    status, after = await run_one(backend, node("after", "t_sleep", data={"seconds": 0}))
    assert status == "completed"
    assert after["result"]["pid"] == before["result"]["pid"]
    assert len((await backend.api.ok("GET", "/workers"))["items"]) == 1
