"""Helpers shared by the store tests: a settable clock and small trees."""

from __future__ import annotations

from collections.abc import Callable

from backend.domain.models import Job, User
from backend.domain.tree import JobSpec, flatten
from backend.store.store import Store


class Clock:
    """A settable clock in epoch milliseconds."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def leaf(name: str = "echo", queue: str = "jobQueue", **kwargs: object) -> JobSpec:
    return JobSpec(name=name, queue_name=queue, **kwargs)  # type: ignore[arg-type]


def jobs_of(
    root: JobSpec, flow_id: str, new_id: Callable[[], str], now: int = 1_700_000_000_000
) -> list[Job]:
    return flatten(root, flow_id, now, new_id)


async def make_flow(
    store: Store,
    user: User,
    flow_id: str,
    new_id: Callable[[], str],
    root: JobSpec | None = None,
    name: str | None = None,
) -> list[Job]:
    """Store a flow (a root with two leaves unless ``root`` is given); return its jobs."""
    root = root or JobSpec("root", "flowQueue", children=(leaf(), leaf()))
    jobs = jobs_of(root, flow_id, new_id, store.clock())
    await store.create_flow(user.id, flow_id, name or root.name, jobs)
    return jobs
