"""The schedule runner: fires due schedules, once each, for the server's lifetime.

It sleeps until the earliest ``next_run_at`` (or a commit, which may have
added or changed a schedule), then fires every due schedule in one
transaction (``backend.store.schedules.fire_due``): each tick's flow is
created there, exactly as ``POST /flows`` would create it (the same
validation, so a queue no longer allowed skips the tick with a log line
rather than storing a flow no worker may run), and the schedule moves on.
It lives in the API layer because it builds flows from requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import aiosqlite
from aiohttp import web

from backend.api.context import SHUTDOWN, STORE
from backend.api.routes.common import new_id
from backend.api.validation import validate_tree
from backend.clock import now_ms
from backend.domain.models import Flow
from backend.domain.schedules import Schedule, iso_utc
from backend.domain.tree import flatten
from backend.errors import ClientError
from backend.settings import Settings
from backend.shutdown import raise_if_cancelled
from backend.store.flows import insert_flow, new_flow
from backend.store.rows import jobs_to_rows
from backend.store.schedules import Fired, fire_due, next_due
from backend.store.store import Store

log = logging.getLogger(__name__)

_IDLE_WAKE_S = 5.0


async def create_run(
    conn: aiosqlite.Connection, settings: Settings, schedule: Schedule, planned: int, now: int
) -> Flow | None:
    """Insert the flow of ``schedule``'s run planned at ``planned``, in the
    caller's transaction; None (logged) if its request is no longer valid."""
    try:
        tree = validate_tree(schedule.flow, settings)
    except ClientError as exc:
        log.warning(
            "schedule's flow is no longer valid", extra={"schedule": schedule.id, "error": str(exc)}
        )
        return None
    flow_id = new_id()
    jobs = flatten(tree.root, flow_id, now, new_id)
    name = f"{tree.root.name} (schedule {schedule.name} at {iso_utc(planned)})"
    # The run is found by its schedule and planned tick (GET /flows?meta.schedule=ID).
    metadata = {**(tree.metadata or {}), "schedule": schedule.id, "plannedAt": iso_utc(planned)}
    flow = new_flow(schedule.user_id, flow_id, name, jobs, metadata)
    await insert_flow(conn, flow, jobs, jobs_to_rows(jobs))
    return flow


class Scheduler:
    def __init__(self, settings: Settings, store: Store, clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._wake = asyncio.Event()
        self.fired = 0

    def poke(self) -> None:
        self._wake.set()

    async def fire(self) -> list[Fired]:
        now = self.clock()

        async def make(conn: aiosqlite.Connection, schedule: Schedule, planned: int) -> Flow | None:
            return await create_run(conn, self.settings, schedule, planned, now)

        fired = await fire_due(self.store.db, now, make)
        for item in fired:
            log.info(
                "schedule ticked",
                extra={"schedule": item.schedule_id, "planned": item.planned,
                       "flow": item.flow.id if item.flow else None, "skipped": item.skipped},
            )  # fmt: skip
        self.fired += sum(1 for item in fired if item.flow is not None)
        return fired

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.fire()
                async with self.store.db.read() as conn:
                    due = await next_due(conn)
                timeout = _IDLE_WAKE_S if due is None else (due - self.clock()) / 1000
                timeout = max(0.0, min(_IDLE_WAKE_S, timeout))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed")
                timeout = 1.0
            raise_if_cancelled()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()


SCHEDULER = web.AppKey("scheduler", Scheduler)


def scheduler_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs the :class:`Scheduler` as long as the app."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]
        scheduler = Scheduler(settings, store)
        app[SCHEDULER] = scheduler
        store.db.commit_listeners.append(scheduler.poke)
        task = asyncio.create_task(scheduler.run(), name="flowdesk-scheduler")
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                store.db.commit_listeners.remove(scheduler.poke)
            await app[SHUTDOWN].stop_tasks([task], what="scheduler")

    return run
