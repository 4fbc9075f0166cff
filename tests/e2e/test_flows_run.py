"""Flows of several shapes run to completion through real workers."""

from __future__ import annotations

from typing import Any

from tests.e2e.kit import Backend, Workers, node, runs, wait_workers


def check_children_first(redis_url: str, jobs: dict[str, dict[str, Any]]) -> None:
    """From the tasks' own records: no parent started before its children ended."""
    by_job: dict[str, list[dict[str, Any]]] = {}
    for run in runs(redis_url):
        by_job.setdefault(run["job"], []).append(run)
    for job in jobs.values():
        for child in job["children"]:
            child_end = max(run["end"] for run in by_job[child])
            parent_start = min(run["start"] for run in by_job[job["jobId"]])
            assert parent_start >= child_end, (job["jobId"], child)


async def test_wide_flow_sums_children(backend: Backend, workers: Workers) -> None:
    workers.start()
    leaves = [node(f"leaf-{i}", data={"value": i}) for i in range(50)]
    flow = await backend.api.create(node("root", "value", *leaves, data={"value": 1000}))
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["root"]["result"] == 1000 + sum(range(50))
    assert done["counts"]["completed"] == 51
    check_children_first(backend.settings.redis_url, jobs)


async def test_deep_chain(backend: Backend, workers: Workers) -> None:
    workers.start()
    tree = node("n-0", data={"value": 1})
    for depth in range(1, 30):
        tree = node(f"n-{depth}", "value", tree, data={"value": 1})
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["n-29"]["result"] == 30
    check_children_first(backend.settings.redis_url, jobs)


async def split_workers(backend: Backend, workers: Workers) -> None:
    """One worker for jobQueue, another for webhooks and flowQueue, both registered."""
    workers.start(queues="jobQueue")
    workers.start(queues="webhooks,flowQueue")
    await wait_workers(backend.api, 2)


async def test_mixed_queues_and_workers(backend: Backend, workers: Workers) -> None:
    await split_workers(backend, workers)
    tree = node(
        "root",
        "collect",
        node("a", data={"value": 1}, queue="webhooks"),
        node("b", "value", node("b1", data={"value": 2}, queue="flowQueue"), data={"value": 3}),
        queue="jobQueue",
    )
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["root"]["result"] == {"children": {"a": 1, "b": 5}, "ignored": {}}
    check_children_first(backend.settings.redis_url, jobs)
    assert all(job["startedAt"] and job["finishedAt"] for job in jobs.values())


async def test_flow_created_before_any_worker_waits_for_one(
    backend: Backend, workers: Workers
) -> None:
    flow = await backend.api.create(node("root", "value", node("a", data={"value": 2})))
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["a"]["status"] == "waiting"
    workers.start()
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"


async def test_job_goes_to_the_worker_that_knows_its_task(
    backend: Backend, workers: Workers
) -> None:
    # Two workers on the same queue with different task modules: each job
    # must reach the one that knows its task, never be dropped by the other.
    workers.start("tests.tasks.e2e_tasks")
    workers.start("backend.examples.tasks")
    await wait_workers(backend.api, 2)
    tree = node("root", "value", *(node(f"e{i}", "echo", data=i) for i in range(10)))
    flow = await backend.api.create(tree)
    done = await backend.api.wait_flow(flow["id"])
    assert done["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    assert jobs["root"]["result"] == sum(range(10))


async def test_finished_jobs_name_the_worker_that_ran_them(
    backend: Backend, workers: Workers
) -> None:
    """``workerId`` is the worker of the job's last attempt, kept once it finished,
    checked against the tasks' own records (which process ran each attempt)."""
    await split_workers(backend, workers)
    tree = node(
        "root",
        "collect",
        node("a", data={"value": 1}, queue="webhooks"),
        node("b", "value", data={"value": 2}),
        node("bad", "boom", opts={"ignoreDependencyOnFailure": True}, queue="flowQueue"),
        node("retried", "flaky", data={"fails": 1}, opts={"attempts": 2}, queue="webhooks"),
        queue="jobQueue",
    )
    flow = await backend.api.create(tree)
    assert (await backend.api.wait_flow(flow["id"]))["status"] == "completed"
    jobs = await backend.api.jobs(flow["id"])
    by_pid = {w["pid"]: w["id"] for w in (await backend.api.ok("GET", "/workers"))["items"]}
    last_run: dict[str, dict[str, Any]] = {}
    for run in runs(backend.settings.redis_url):
        if run["attempt"] >= last_run.get(run["job"], {"attempt": 0})["attempt"]:
            last_run[run["job"]] = run
    assert {job_id: job["status"] for job_id, job in jobs.items()} == {
        "root": "completed", "a": "completed", "b": "completed", "bad": "failed",
        "retried": "completed",
    }  # fmt: skip
    assert jobs["retried"]["attemptsMade"] == 2
    assert {job_id: job["workerId"] for job_id, job in jobs.items()} == {
        job_id: by_pid[run["pid"]] for job_id, run in last_run.items()
    }
    # each queue's jobs ran on the one worker serving it
    assert jobs["root"]["workerId"] == jobs["b"]["workerId"] != jobs["a"]["workerId"]
    assert jobs["a"]["workerId"] == jobs["bad"]["workerId"] == jobs["retried"]["workerId"]
    job = await backend.api.ok("GET", "/jobs/bad")
    assert job["workerId"] == jobs["bad"]["workerId"]
