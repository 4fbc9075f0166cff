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
from backend.domain.engine import FlowMachine
from backend.settings import Settings
from backend.shutdown import raise_if_cancelled
from backend.store.db import Database
from backend.store.execution import (
    OutboxJob,
    claim_ready,
    mark_dispatched,
    next_run_at,
    ready_jobs,
    unclaim,
)
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
        if due is None:
            return _IDLE_WAKE_S
        return max(0.0, min(_IDLE_WAKE_S, (due - self.clock()) / 1000))

    async def drain(self) -> int:
        """Send everything that is due now; returns how many messages went out."""
        total = 0
        while True:
            self._wake.clear()
            now = self.clock()
            async with self.db.read() as conn:
                batch = await ready_jobs(conn, now, self.settings.dispatch_batch)
            if not batch:
                return total
            await self.registry.refresh()
            sendable: list[OutboxJob] = []
            unknown: dict[str, list[str]] = {}
            for item in batch:
                job = item.job
                if self.registry.can_run(job.queue_name, job.name):
                    sendable.append(item)
                else:
                    unknown.setdefault(job.flow_id, []).append(job.job_id)
            failed = await self.fail_unknown(given(unknown)) if unknown else 0
            if not sendable and not failed:
                return total  # nothing moved: do not spin on the same rows
            if sendable:
                await self.transport.send([build_outgoing(item) for item in sendable])
                async with self.db.transaction() as conn:
                    marked = await mark_dispatched(conn, [item.job for item in sendable], now)
                    # Only what the mark accepted: a job another writer moved on
                    # meanwhile keeps its place in the outbox (see mark_dispatched).
                    self.cache.note_sent(marked.job_ids)
                self.sent += len(sendable)
                total += len(sendable)
                if COALESCE_FROM <= len(sendable) < self.settings.dispatch_batch:
                    # Jobs are arriving in numbers: gather a few milliseconds'
                    # worth before the next pipeline and transaction.
                    await asyncio.sleep(COALESCE_S)

    async def claim(self, conn: aiosqlite.Connection, job_ids: Iterable[str]) -> list[OutboxJob]:
        """In the caller's write transaction: take the jobs it made ready out of
        the outbox (see ``claim_ready``); send them with :meth:`send_claimed`
        once it has committed. Jobs no live worker can run stay in the outbox,
        where :meth:`drain` fails them with the reason."""
        return await claim_ready(
            conn, job_ids, lambda job: self.registry.can_run(job.queue_name, job.name)
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

        failed = await apply_to_flows(self.db, self.cache, select, fail, self.clock())
        self.failed_unknown += len(failed)
        return len(failed)
