"""Watches what no message announces: dead workers, lost Redis, orphaned jobs.

Every heartbeat interval it

* retries, as a *stalled* attempt, each active job whose worker stopped
  beating, and drops the dead worker's pending message from its stream so
  it is not reclaimed to run the lost attempt again (the message's place is
  known from the job's ``active`` event; after a backend restart it is not,
  and a reclaimed copy then runs once more, its result ignored as stale);
* notices that Redis lost its contents (restarted empty or flushed: the
  marker key the backend keeps there is gone) and sends every job that was
  sent but not finished again, without spending an attempt;
* fails sent jobs whose task no live worker of their queue knows (a worker
  set that changed after the job was sent).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from redis.exceptions import RedisError

from backend.dispatch.cache import MachineCache, apply_to_flows
from backend.dispatch.dispatcher import Dispatcher
from backend.dispatch.registry import WorkerRegistry
from backend.dispatch.transport import Transport
from backend.shutdown import raise_if_cancelled
from backend.store.db import Database
from backend.store.execution import (
    active_jobs,
    get_meta,
    sent_unfinished,
    set_meta,
    waiting_sent,
)

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

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("event=monitor_redis_error error=%s", exc)
            except Exception:
                log.exception("event=monitor_error")
            raise_if_cancelled()  # a cancel redis-py swallowed (see backend.shutdown)
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        await self.check_redis_reset()
        await self.registry.refresh(force=True)
        await self.check_stalled()
        await self.check_unknown_tasks()

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
        log.warning("event=redis_lost_contents run_id=%s action=resend_unfinished", run_id)
        async with self.db.read() as conn:
            lost = await sent_unfinished(conn)
        await apply_to_flows(
            self.db,
            self.cache,
            lost,
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
        async with self.db.read() as conn:
            running = await active_jobs(conn)
        stalled: dict[str, list[str]] = {}
        for job_id, flow_id, worker_id, updated_at in running:
            if worker_id in live or updated_at >= cutoff:
                continue
            stalled.setdefault(flow_id, []).append(job_id)
            log.warning("event=job_stalled job=%s worker=%s", job_id, worker_id)
        retried = await apply_to_flows(
            self.db, self.cache, stalled, lambda m, job_id, now: m.stall(job_id, now), self.clock()
        )
        self.stalled += len(retried)
        # The dead worker's message would be reclaimed later and run the lost
        # attempt again for nothing: the retry is already on its way.
        await self.transport.drop_messages(
            [self.deliveries.pop(job_id) for job_id in retried if job_id in self.deliveries]
        )
        return len(retried)

    async def check_unknown_tasks(self) -> None:
        async with self.db.read() as conn:
            waiting = await waiting_sent(conn)
        orphans: dict[str, list[str]] = {}
        for job_id, flow_id, queue, task in waiting:
            if not self.registry.can_run(queue, task):
                orphans.setdefault(flow_id, []).append(job_id)
        await self.dispatcher.fail_unknown(orphans)
