"""The worker-event consumer: lifecycle events from the broker -> SQLite.

Events are read in batches from the consumer group, applied through the
engine in ONE transaction per batch (group commit), and acknowledged only
after that commit: a backend killed at any moment re-reads what it had not
committed, and the engine's ``(job_id, attempt)`` keying makes a re-applied
event a no-op. A job the batch made ready (a parent whose last child
finished, a retry without backoff) is recorded sent in that same
transaction and sent by this task right after the commit: one commit per
hop, with no wake-up of the dispatcher in between (``Dispatcher.claim``).
The commit also wakes the websocket hub, through
``Database.commit_listeners``; running jobs a fail-fast parent cancelled in
it are then asked to stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence

import aiosqlite
from redis.exceptions import RedisError

from backend.backoff import Backoff
from backend.dispatch.cache import MachineCache
from backend.dispatch.dispatcher import Dispatcher
from backend.dispatch.transport import Received, Transport
from backend.domain.engine import FlowMachine, Outcome, Report, ReportType
from backend.domain.models import Flow, JobState
from backend.shutdown import raise_if_cancelled
from backend.store.db import Database
from backend.store.execution import (
    OutboxJob,
    append_logs,
    flow_ids_of_jobs,
    load_flows,
    load_machines,
    write_outcomes,
)
from backend.worker.protocol import WorkerEvent, WorkerEventType

log = logging.getLogger(__name__)

COALESCE_FROM = 8  # events in a batch that mean several jobs finish at once
COALESCE_S = 0.003
_RETRY = Backoff(initial=0.1, maximum=5.0)  # Redis away, or a batch that failed

_FINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

_ENGINE_TYPES = {
    WorkerEventType.ACTIVE: ReportType.ACTIVE,
    WorkerEventType.PROGRESS: ReportType.PROGRESS,
    WorkerEventType.COMPLETED: ReportType.COMPLETED,
    WorkerEventType.FAILED: ReportType.FAILED,
}


def to_report(event: WorkerEvent) -> Report:
    return Report(
        type=_ENGINE_TYPES[event.type],
        job_id=event.job_id,
        attempt=event.attempt,
        time=event.time,
        worker_id=event.worker_id or None,
        result=event.result,
        progress=event.progress,
        error=None if event.error is None else event.error.to_obj(),
        retryable=event.retryable,
    )


class EventConsumer:
    def __init__(
        self,
        *,
        db: Database,
        transport: Transport,
        cache: MachineCache,
        batch: int,
        clock: Callable[[], int],
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher  # sends the jobs a batch made ready, right after its commit
        self.transport = transport
        self.cache = cache
        self.batch = batch
        self.clock = clock
        self.applied = 0  # counters for /metrics
        self.stale = 0
        self.finished: Counter[str] = Counter()  # jobs that reached a final state, by state
        self.last_event_time = 0
        # job_id -> (stream, message id) of the message its current attempt runs
        # from; memory only, bounded by the running jobs
        self.deliveries: dict[str, tuple[str, str]] = {}

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                received = await self.transport.read_events(self.batch, block_ms=1000)
                raise_if_cancelled()  # a cancel redis-py swallowed (see backend.shutdown)
                if received:
                    await self.apply(received)
                    await self.transport.ack_events([r.ack_id for r in received])
                    if COALESCE_FROM <= len(received) < self.batch:
                        # Busy but not saturated: let the next transaction carry
                        # more events rather than commit a few at a time.
                        await asyncio.sleep(COALESCE_S)
                failures = 0
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                failures += 1
                delay = _RETRY.delay(failures)
                log.warning(
                    "reading worker events failed",
                    extra={"error": repr(exc), "retry_in_s": round(delay, 2)},
                )
                await asyncio.sleep(delay)
            except Exception:
                failures += 1
                log.exception("applying worker events failed")
                await asyncio.sleep(_RETRY.delay(failures))

    async def apply(self, received: Sequence[Received]) -> None:
        """Apply one batch in one transaction."""
        events = [r.event for r in received if r.event is not None]
        if not events:
            return
        logs = [
            (e.job_id, e.attempt, e.message, e.time)
            for e in events
            if e.type is WorkerEventType.LOG
        ]
        lifecycle = [e for e in events if e.type is not WorkerEventType.LOG]
        now = self.clock()
        touched: list[str] = []
        claimed: list[OutboxJob] = []
        try:
            async with self.db.transaction() as conn:
                flow_of = await flow_ids_of_jobs(conn, {e.job_id for e in lifecycle})
                by_flow: dict[str, list[WorkerEvent]] = {}
                for event in lifecycle:
                    flow_id = flow_of.get(event.job_id)
                    if flow_id is not None:  # events of deleted flows are dropped
                        by_flow.setdefault(flow_id, []).append(event)
                touched = list(by_flow)
                items = []
                for flow, machine in (await self._machines(conn, touched)).values():
                    for event in by_flow[flow.id]:
                        if machine.apply(to_report(event)):
                            self._track_delivery(event)
                    outcome = machine.take_outcome()
                    self._count(outcome)
                    items.append((flow, machine, outcome))
                _seqs, updated = await write_outcomes(conn, items, now)
                await append_logs(conn, logs)
                claimed = await self._claim_ready(conn, items)
            for flow, (_old, machine, _outcome) in zip(updated, items, strict=True):
                self.cache.put(flow, machine)
        except BaseException:
            self.cache.invalidate_all(touched)  # their machines may be ahead of the rollback
            raise
        self.last_event_time = max(e.time for e in events)
        # Fail fast cancelled running jobs in this commit: ask their workers to stop.
        stop = [job_id for _flow, _machine, outcome in items for job_id in outcome.cancel_running]
        if stop:
            await self.transport.cancel(stop)
        if claimed and self.dispatcher is not None:
            await self.dispatcher.send_claimed(claimed)

    async def _claim_ready(
        self, conn: aiosqlite.Connection, items: Sequence[tuple[Flow, FlowMachine, Outcome]]
    ) -> list[OutboxJob]:
        """Record, in this batch's transaction, the dispatch of the jobs it made ready."""
        if self.dispatcher is None:
            return []
        machines = {}
        for _flow, machine, outcome in items:
            for job_id, patch in outcome.patches.items():
                if patch.get("status") is JobState.WAITING:
                    machines[job_id] = machine
        if not machines:
            return []
        claimed = await self.dispatcher.claim(conn, machines)
        for item in claimed:
            machines[item.job.job_id].note_sent(item.job.job_id)
        return claimed

    async def _machines(
        self, conn: aiosqlite.Connection, flow_ids: list[str]
    ) -> dict[str, tuple[Flow, FlowMachine]]:
        """The flows' cached machines; the missing ones loaded in two queries."""
        found: dict[str, tuple[Flow, FlowMachine]] = {}
        missing: list[str] = []
        for flow_id in flow_ids:
            cached = self.cache.get(flow_id)
            if cached is None:
                missing.append(flow_id)
            else:
                found[flow_id] = cached
        if missing:
            flows = await load_flows(conn, missing)
            machines = await load_machines(conn, list(flows.values()))
            for flow_id, flow in flows.items():
                found[flow_id] = (flow, machines[flow_id])
        return found

    def _track_delivery(self, event: WorkerEvent) -> None:
        """Remember where a running job's message sits (see ``Monitor.check_stalled``)."""
        if event.type is WorkerEventType.ACTIVE:
            if event.delivery is not None:
                self.deliveries[event.job_id] = event.delivery
        elif event.type in (WorkerEventType.COMPLETED, WorkerEventType.FAILED):
            self.deliveries.pop(event.job_id, None)

    def _count(self, outcome: Outcome) -> None:
        self.applied += outcome.applied
        self.stale += outcome.stale
        for patch in outcome.patches.values():
            if patch.get("status") in _FINAL:
                self.finished[str(patch["status"])] += 1
