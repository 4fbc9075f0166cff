"""Pure tree logic: turn a validated request tree into stored jobs.

``JobSpec`` is the request tree after wire validation. ``flatten`` assigns
ids, links parents and children, and gives every job its initial state:
leaves are ready (``waiting``, or ``delayed`` with a ``run_at``), every other
job waits for its children. Nothing here does I/O; ids and time come in as
arguments so the result is deterministic under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from backend.domain.models import JSON, Job, JobOptions, JobState


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue_name: str
    data: JSON = None
    opts: JobOptions = field(default_factory=JobOptions)
    children: tuple[JobSpec, ...] = ()


def walk(root: JobSpec) -> Iterator[tuple[str, int, JobSpec]]:
    """Yield ``(path, depth, spec)`` in pre-order without recursion.

    ``path`` is the request path of the node (``""`` for the root, then
    ``children[2].children[0]``), used in error messages.
    """
    stack: list[tuple[str, int, JobSpec]] = [("", 0, root)]
    while stack:
        path, depth, spec = stack.pop()
        yield path, depth, spec
        prefix = f"{path}." if path else ""
        for index in range(len(spec.children) - 1, -1, -1):
            stack.append((f"{prefix}children[{index}]", depth + 1, spec.children[index]))


def initial_state(spec: JobSpec, now: int) -> tuple[JobState, int | None]:
    """State and ``run_at`` of a freshly created job."""
    if spec.children:
        return JobState.WAITING_CHILDREN, None
    if spec.opts.delay > 0:
        return JobState.DELAYED, now + spec.opts.delay
    return JobState.WAITING, None


def flatten(root: JobSpec, flow_id: str, now: int, new_id: Callable[[], str]) -> list[Job]:
    """All jobs of the tree, root first, parents before their children."""
    jobs: list[Job] = []
    # (spec, parent job_id, depth, job_id assigned by the parent's pass)
    stack: list[tuple[JobSpec, str | None, int, str]] = [
        (root, None, 0, root.opts.job_id or new_id())
    ]
    while stack:
        spec, parent_id, depth, job_id = stack.pop()
        child_ids = [child.opts.job_id or new_id() for child in spec.children]
        state, run_at = initial_state(spec, now)
        jobs.append(
            Job(
                id=new_id(),
                job_id=job_id,
                flow_id=flow_id,
                parent_id=parent_id,
                name=spec.name,
                queue_name=spec.queue_name,
                data=spec.data,
                opts=spec.opts,
                status=state,
                children=tuple(child_ids),
                created_at=now,
                updated_at=now,
                run_at=run_at,
                depth=depth,
            )
        )
        for child, child_id in zip(reversed(spec.children), reversed(child_ids), strict=True):
            stack.append((child, job_id, depth + 1, child_id))
    return jobs


def duplicate_job_ids(root: JobSpec) -> dict[str, list[str]]:
    """Caller-chosen ``opts.jobId`` values used more than once -> their paths."""
    seen: dict[str, list[str]] = {}
    for path, _depth, spec in walk(root):
        if spec.opts.job_id is not None:
            seen.setdefault(spec.opts.job_id, []).append(path)
    return {job_id: paths for job_id, paths in seen.items() if len(paths) > 1}
