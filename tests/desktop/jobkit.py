"""Job records for the pure desktop modules' tests: trees written as tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backend.schemas import FlowJobResponse, JobState

T0 = "2026-01-01T00:00:00.000+00:00"


def at(seconds: float) -> str:
    """The wire's time ``seconds`` after T0."""
    whole, frac = divmod(round(seconds * 1000), 1000)
    minutes, secs = divmod(whole, 60)
    return f"2026-01-01T00:{minutes:02d}:{secs:02d}.{frac:03d}+00:00"


def make_job(
    job_id: str,
    parent: str | None = None,
    children: Sequence[str] = (),
    *,
    name: str | None = None,
    status: JobState = JobState.WAITING,
    started: float | None = None,
    finished: float | None = None,
    created: float = 0.0,
    worker: str | None = None,
) -> FlowJobResponse:
    return FlowJobResponse(
        job_id=job_id,
        flow_id="f",
        parent_id=parent,
        name=name or f"task-{job_id}",
        queue_name="jobQueue",
        status=status,
        children=list(children),
        opts={},
        attempts_made=0 if started is None else 1,
        created_at=at(created),
        updated_at=at(created),
        started_at=None if started is None else at(started),
        finished_at=None if finished is None else at(finished),
        worker_id=worker,
    )


def fan_out(
    leaves: Mapping[str, int], *, failed: Sequence[str] = (), root: str = "r"
) -> dict[str, FlowJobResponse]:
    """A root with ``leaves[name]`` leaves of each task name (ids ``name-i``)."""
    ids = [f"{name}-{i}" for name, n in leaves.items() for i in range(n)]
    jobs = {root: make_job(root, None, ids, name="sum", status=JobState.WAITING_CHILDREN)}
    for job_id in ids:
        status = JobState.FAILED if job_id in failed else JobState.WAITING
        jobs[job_id] = make_job(job_id, root, name=job_id.rsplit("-", 1)[0], status=status)
    return jobs


def two_levels(
    subs: int, leaves: int, sub: str = "sub", leaf: str = "leaf"
) -> dict[str, FlowJobResponse]:
    """A root "r" over ``subs`` sub-trees ``sub-i``, each over ``leaves`` leaves ``leaf-i-k``."""
    jobs = {"r": make_job("r", None, [f"{sub}-{i}" for i in range(subs)], name="sum")}
    for i in range(subs):
        kids = [f"{leaf}-{i}-{k}" for k in range(leaves)]
        jobs[f"{sub}-{i}"] = make_job(f"{sub}-{i}", "r", kids, name=sub)
        for kid in kids:
            jobs[kid] = make_job(kid, f"{sub}-{i}", name=leaf)
    return jobs
