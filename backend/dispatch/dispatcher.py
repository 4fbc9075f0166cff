"""The outbox dispatcher: ready jobs in SQLite -> messages in the broker.

A job that the engine made ready is stored with ``dispatched = 0``. The
dispatcher reads a batch of them, sends their messages in one pipeline, and
only then marks them dispatched. A backend that dies between the two re-sends
on start-up (at-least-once; the engine records the result once). Delayed jobs
and backoff waits are rows with a ``run_at``; the dispatcher sleeps until the
earliest one is due, so they survive restarts. Every committed write
transaction wakes it (``Database.commit_listeners``), whoever made the job
ready: the API, the event consumer, a command or the monitor.

A job whose task no live worker of its queue knows is failed here with an
error naming the task and the queue, rather than sent into a stream no one
reads. When no worker serves the queue at all, the job is sent and waits for
one to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence

import aiosqlite

from backend.dispatch.cache import MachineCache, Select, apply_to_flows, given
from backend.dispatch.registry import WorkerRegistry
from backend.dispatch.transport import Outgoing, Transport
from backend.dispatch.withdraw import withdraw
from backend.domain.engine import FlowMachine
from backend.domain.limits import Blocked, HeldBy, blocked, next_opening
from backend.settings import Settings
from backend.shutdown import raise_if_cancelled
from backend.store.admission import claim_ready, hold_blocked
from backend.store.db import Database
from backend.store.execution import (
    OutboxJob,
    mark_dispatched,
    next_run_at,
    ready_jobs,
    unclaim,
)
from backend.store.queues import load_controls, queue_loads, sent_not_started, unmarked_held
from backend.worker.protocol import FlowLabel, build_message

log = logging.getLogger(__name__)

UNKNOWN_TASK = "UnknownTask"
_IDLE_WAKE_S = 5.0
COALESCE_FROM = 8  # jobs in one send that mean many are becoming ready
COALESCE_S = 0.003  # re-check the outbox now and then even without a poke


def unknown_task_error(task: str, queue: str) -> dict[str, str]:
    return {
        "type": UNKNOWN_TASK,
        "message": f"no live worker of queue {queue!r} knows the task {task!r}",
        "traceback": "",
    }


def build_outgoing(item: OutboxJob) -> Outgoing:
    job = item.job
    label = FlowLabel(
        flow_id=job.flow_id,
        attempt=job.attempts_made + 1,
        queue=job.queue_name,
        children_values=item.children_values,
        ignored_failures=item.ignored_failures,
    )
    timeout_s = None if job.opts.timeout is None else job.opts.timeout / 1000
    body = build_message(job.job_id, job.name, job.data, label, timeout_s)
    return Outgoing(job.job_id, job.queue_name, job.name, body)


class Dispatcher:
    def __init__(
        self,
        *,
        db: Database,
        transport: Transport,
        registry: WorkerRegistry,
        cache: MachineCache,
        settings: Settings,
        clock: Callable[[], int],
    ) -> None:
        self.cache = cache
        self.db = db
        self.transport = transport
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()
        self._opens_at: int | None = None  # when a full rate window next frees a send
        self.sent = 0  # counters for /metrics
        self.failed_unknown = 0

    def poke(self) -> None:
        """Something may have become ready: look at the outbox soon."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.drain()
                timeout = await self._sleep_for()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch failed")
                timeout = 1.0
            raise_if_cancelled()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a
            # cancel that arrives as the wake-up does (see backend.shutdown).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()

    async def _sleep_for(self) -> float:
        async with self.db.read() as conn:
            due = await next_run_at(conn)
        if self._opens_at is not None:
            due = self._opens_at if due is None else min(due, self._opens_at)
        if due is None:
            return _IDLE_WAKE_S
        return max(0.0, min(_IDLE_WAKE_S, (due - self.clock()) / 1000))

    async def drain(self) -> int:
        """Send everything that is due now; returns how many messages went out.

        Jobs of queues without controls are sent, then marked (the outbox
        path). Jobs of controlled queues are claimed under their controls in
        a write transaction, then sent (``backend.store.admission``); ready
        jobs of queues and keys that admit nothing now are left out of the
        batch and only marked ``heldBy``. A paused queue's jobs that were sent
        but not started are taken back first (``backend.dispatch.withdraw``).
        """
        total = 0
        while True:
            self._wake.clear()
            now = self.clock()
            async with self.db.read() as conn:
                controls = await load_controls(conn)
                loads = await queue_loads(conn, controls, now)
                stop = blocked(controls, loads, now)
                batch = await ready_jobs(
                    conn, now, self.settings.dispatch_batch, stop.queues, stop.keys
                )
                unmarked = await unmarked_held(conn, stop.queues, stop.keys, now, 1)
                paused = [q for q, why in stop.queues.items() if why is HeldBy.PAUSED]
                unstarted = await sent_not_started(conn, paused)
            self._opens_at = next_opening(controls, loads, now)
            if unstarted:
                await withdraw(self.db, self.cache, self.transport, paused, self.clock)
                continue
            if not batch and not unmarked:
                return total
            if batch:
                await self.registry.refresh()
            free: list[OutboxJob] = []
            controlled: list[str] = []
            unknown: dict[str, list[str]] = {}
            for item in batch:
                job = item.job
                queue = controls.get(job.queue_name)
                if not self.registry.can_run(job.queue_name, job.name):
                    unknown.setdefault(job.flow_id, []).append(job.job_id)
                elif queue is not None and queue.controlled:
                    controlled.append(job.job_id)
                else:
                    free.append(item)
            failed = await self.fail_unknown(given(unknown)) if unknown else 0
            moved = (
                await self._claim_controlled(controlled, stop, now) if controlled or unmarked else 0
            )
            if free:
                await self._send_free(free, now)
            moved += len(free)
            total += moved
            if not moved and not failed:
                return total  # nothing moved: do not spin on the same rows
            if COALESCE_FROM <= moved < self.settings.dispatch_batch:
                # Jobs are arriving in numbers: gather a few milliseconds'
                # worth before the next pipeline and transaction.
                await asyncio.sleep(COALESCE_S)

    async def _send_free(self, items: Sequence[OutboxJob], now: int) -> None:
        await self.transport.send([build_outgoing(item) for item in items])
        async with self.db.transaction() as conn:
            marked = await mark_dispatched(conn, [item.job for item in items], now)
            # Only what the mark accepted: a job another writer moved on
            # meanwhile keeps its place in the outbox (see mark_dispatched).
            self.cache.note_sent(marked.job_ids)
        self.sent += len(items)

    async def _claim_controlled(self, job_ids: Sequence[str], stop: Blocked, now: int) -> int:
        """Claim, then send, what the controls admit; mark what they hold.
        Returns how many jobs were sent or newly marked."""
        async with self.db.transaction() as conn:
            claimed = await claim_ready(conn, job_ids, lambda _job: True, now)
            held = await hold_blocked(conn, stop, now, self.settings.dispatch_batch)
            self.cache.note_sent((item.job.flow_id, item.job.job_id) for item in claimed)
        await self.send_claimed(claimed)
        return len(claimed) + held

    async def claim(self, conn: aiosqlite.Connection, job_ids: Iterable[str]) -> list[OutboxJob]:
        """In the caller's write transaction: take the jobs it made ready out of
        the outbox (see ``claim_ready``); send them with :meth:`send_claimed`
        once it has committed. Jobs no live worker can run stay in the outbox,
        where :meth:`drain` fails them with the reason."""
        return await claim_ready(
            conn, job_ids, lambda job: self.registry.can_run(job.queue_name, job.name), self.clock()
        )

    async def send_claimed(self, items: Sequence[OutboxJob]) -> None:
        """Send what :meth:`claim` marked; if the broker refuses, put it back in the outbox."""
        if not items:
            return
        try:
            await self.transport.send([build_outgoing(item) for item in items])
        except Exception:
            # (Cancelled mid-send, at shutdown, the marks stay: the monitor's
            # lost-message check sends them again after the restart.)
            async with self.db.transaction() as conn:
                await unclaim(conn, [item.job for item in items])
                self.cache.invalidate_all({item.job.flow_id for item in items})
            self.poke()
            raise
        self.sent += len(items)

    async def fail_unknown(self, select: Select) -> int:
        """Fail the jobs ``select`` finds (their task no live worker of their
        queue knows); returns how many."""

        def fail(machine: FlowMachine, job_id: str, now: int) -> bool:
            job = machine.jobs[job_id]
            error = unknown_task_error(job.name, job.queue_name)
            if not machine.fail_now(job_id, error, now):
                return False
            log.warning(
                "no live worker knows the task",
                extra={"job": job_id, "task": job.name, "queue": job.queue_name},
            )
            return True

        failed = await apply_to_flows(
            self.db, self.cache, select, fail, self.clock(), cancel=self.transport.cancel
        )
        self.failed_unknown += len(failed)
        return len(failed)
