"""Watches what no message announces: dead workers, lost Redis, orphaned jobs.

Every heartbeat interval it

* retries, as a *stalled* attempt, each active job whose worker stopped
  beating, and drops the dead worker's pending message from its stream so
  it is not reclaimed to run the lost attempt again (the message's place is
  known from the job's ``active`` event; after a backend restart it is
  looked up in the job's stream by job id and attempt: a reclaimed copy
  would run beside the retry and take a slot no limit counted);
* notices that Redis lost its contents (restarted empty or flushed: the
  marker key the backend keeps there is gone) and sends every job that was
  sent but not finished again, without spending an attempt;
* fails sent jobs whose task no live worker of their queue knows (a worker
  set that changed after the job was sent);
* sends again a sent job whose message its stream no longer holds (a safety
  net: see ``check_lost_messages``).

Each finding is decided again inside the write transaction that acts on it
(``apply_to_flows``), from the rows that transaction replaces.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

import aiosqlite
from redis.exceptions import RedisError

from backend.dispatch.cache import Groups, MachineCache, apply_to_flows
from backend.dispatch.dispatcher import Dispatcher
from backend.dispatch.registry import WorkerRegistry
from backend.dispatch.transport import Transport
from backend.domain.engine import FlowMachine
from backend.domain.models import JobState
from backend.shutdown import raise_if_cancelled
from backend.store.db import Database
from backend.store.execution import (
    active_jobs,
    in_broker,
    in_broker_counts,
    sent_unfinished,
    waiting_sent,
)
from backend.store.meta import get_meta, set_meta
from backend.worker.protocol import stream_name

log = logging.getLogger(__name__)

BROKER_EPOCH = "broker_epoch"


class Monitor:
    def __init__(
        self,
        *,
        db: Database,
        transport: Transport,
        registry: WorkerRegistry,
        dispatcher: Dispatcher,
        cache: MachineCache,
        deliveries: dict[str, tuple[str, str]],
        interval: float,
        clock: Callable[[], int],
    ) -> None:
        self.db = db
        self.transport = transport
        self.registry = registry
        self.dispatcher = dispatcher
        self.interval = interval
        self.cache = cache
        self.deliveries = deliveries  # the consumer's: job_id -> (stream, message id)
        self.clock = clock
        self.stalled = 0  # counters for /metrics
        self.redis_resets = 0
        self.lost_resent = 0
        # job_id -> attempts_made of sent jobs whose message was missing at the
        # last check: resent only if still missing, for the same attempt, now
        self._missing: dict[str, int] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("monitor: Redis error", extra={"error": repr(exc)})
            except Exception:
                log.exception("monitor check failed")
            raise_if_cancelled()  # a cancel redis-py swallowed (see backend.shutdown)
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        await self.check_redis_reset()
        await self.registry.refresh(force=True)
        await self.check_stalled()
        await self.check_unknown_tasks()
        await self.check_lost_messages()

    async def check_redis_reset(self) -> bool:
        """Re-send what Redis lost; True if it had lost its contents.

        The backend keeps a marker key in Redis and its value in SQLite. A
        missing or different marker means this Redis does not hold what was
        sent (restarted empty, flushed, or replaced): every job sent but not
        finished is sent again. A restart that kept its data (RDB/AOF) keeps
        the marker and re-sends nothing. The marker is written after the
        commit, so a crash in between only re-sends once more.
        """
        marker = await self.transport.broker_epoch()
        async with self.db.read() as conn:
            known = await get_meta(conn, BROKER_EPOCH)
        if marker is not None and marker == known:
            return False
        epoch = uuid.uuid4().hex
        if known is None:  # a new database: nothing was sent to any Redis yet
            async with self.db.transaction() as conn:
                await set_meta(conn, BROKER_EPOCH, epoch)
            await self.transport.set_broker_epoch(epoch)
            return False
        run_id = await self.transport.server_id()
        log.warning(
            "Redis lost its contents; sending every unfinished job again", extra={"run_id": run_id}
        )
        await apply_to_flows(
            self.db,
            self.cache,
            sent_unfinished,
            lambda m, job_id, now: m.requeue_lost(job_id),
            self.clock(),
            extra=lambda conn: set_meta(conn, BROKER_EPOCH, epoch),
        )
        await self.transport.set_broker_epoch(epoch)
        self.redis_resets += 1
        return True

    async def check_stalled(self) -> int:
        live = self.registry.live_ids()
        cutoff = self.clock() - self.registry.stall_timeout_ms

        async def select(conn: aiosqlite.Connection) -> Groups:
            stalled: dict[str, list[str]] = {}
            for job_id, flow_id, worker_id, updated_at in await active_jobs(conn):
                if worker_id not in live and updated_at < cutoff:
                    stalled.setdefault(flow_id, []).append(job_id)
            return stalled

        lost: dict[str, tuple[str, int]] = {}  # job_id -> (stream, the lost attempt)

        def stall(machine: FlowMachine, job_id: str, now: int) -> bool:
            job = machine.jobs[job_id]
            if not machine.stall(job_id, now):
                return False
            lost[job_id] = (stream_name(job.queue_name, job.name), job.attempts_made)
            log.warning("job stalled", extra={"job": job_id, "worker": job.worker_id})
            return True

        retried = await apply_to_flows(
            self.db, self.cache, select, stall, self.clock(), cancel=self.transport.cancel
        )
        self.stalled += len(retried)
        # The dead worker's message would be reclaimed later and run the lost
        # attempt again for nothing: the retry is already on its way.
        unknown = [(*lost[j], j) for j in retried if j in lost and j not in self.deliveries]
        known = [self.deliveries.pop(j) for j in retried if j in self.deliveries]
        await self.transport.drop_messages(known + await self._find_messages(unknown))
        return len(retried)

    async def _find_messages(self, wanted: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
        """Where the lost attempts' messages sit, when no ``active`` event said
        (it was applied before this backend started): read from their streams."""
        found: list[tuple[str, str]] = []
        for stream in {stream for stream, _attempt, _job in wanted}:
            held = await self.transport.held_messages(stream)
            for _stream, attempt, job_id in (w for w in wanted if w[0] == stream):
                found += [(stream, message) for message in held.get((job_id, attempt), ())]
        return found

    async def check_unknown_tasks(self) -> None:
        async def select(conn: aiosqlite.Connection) -> Groups:
            orphans: dict[str, list[str]] = {}
            for job in await waiting_sent(conn):
                if not self.registry.can_run(job.queue, job.task):
                    orphans.setdefault(job.flow_id, []).append(job.job_id)
            return orphans

        await self.dispatcher.fail_unknown(select)

    async def check_lost_messages(self) -> int:
        """Send again the sent, not yet started jobs whose message Redis no longer holds.

        A safety net under the rules above, for any way a message can go
        missing that they do not foresee (a lost update that marked a job
        sent, an operator trimming a stream). Every sent job's message sits in
        its stream until the worker acknowledges the attempt, so a stream
        holding fewer entries than jobs wait on it has lost some: only then
        is the stream read (in pages) to find which. A job is resent when it
        is found missing, for the same attempt, on two checks in a row, so a
        job whose final event is still on its way to the consumer (its
        message already deleted) is not run twice; the resend decides again
        inside its transaction.
        """
        async with self.db.read() as conn:
            counts = await in_broker_counts(conn)
        streams = {stream_name(queue, task): (queue, task) for queue, task in counts}
        lengths = await self.transport.stream_lengths(list(streams))
        missing: dict[str, int] = {}
        for stream, (queue, task) in streams.items():
            if lengths is None or lengths.get(stream, 0) >= counts[queue, task]:
                continue
            async with self.db.read() as conn:
                jobs = await in_broker(conn, queue, task)
            held = await self.transport.held_attempts(stream)
            for job in jobs:
                expected = (job.job_id, job.attempts_made + 1)
                if job.status is JobState.WAITING and expected not in held:
                    missing[job.job_id] = job.attempts_made
        confirmed = {
            job_id: attempts for job_id, attempts in missing.items()
            if self._missing.get(job_id) == attempts
        }  # fmt: skip
        self._missing = missing
        if not confirmed:
            return 0

        async def select(conn: aiosqlite.Connection) -> Groups:
            groups: dict[str, list[str]] = {}
            for job in await waiting_sent(conn):
                if confirmed.get(job.job_id) == job.attempts_made:
                    groups.setdefault(job.flow_id, []).append(job.job_id)
            return groups

        resent = await apply_to_flows(
            self.db, self.cache, select, lambda m, job_id, now: m.requeue_lost(job_id), self.clock()
        )
        for job_id in resent:
            self._missing.pop(job_id, None)
            log.warning(
                "message lost; sending the job again",
                extra={"job": job_id, "attempt": confirmed[job_id] + 1},
            )
        self.lost_resent += len(resent)
        return len(resent)
