"""Pausing a queue takes back the messages its workers have not started yet.

Without this, a pause would stop only what the backend has not sent: a
queue without a concurrency limit has its whole backlog in Redis, which
workers would keep starting. For each job of a paused queue that is sent
and not started, the job goes back to the outbox (``dispatched = 0``, where
the pause holds it) in one transaction, and then its message is deleted
from its stream. A worker that had already read the message still runs it:
it started at the moment of the pause, and its ``active`` event makes the
job active as usual. The DB is written first, so a backend that dies in
between leaves at worst a message that runs (at-least-once), never a job
that no message will ever carry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

import aiosqlite

from backend.dispatch.cache import Groups, MachineCache, apply_to_flows
from backend.dispatch.transport import Transport
from backend.domain.engine import FlowMachine
from backend.domain.models import JobState
from backend.store.db import Database
from backend.store.queues import sent_not_started
from backend.worker.protocol import stream_name

log = logging.getLogger(__name__)


async def withdraw(
    db: Database,
    cache: MachineCache,
    transport: Transport,
    queues: Collection[str],
    clock: Callable[[], int],
) -> int:
    """Take the sent, unstarted jobs of ``queues`` back; returns how many."""
    taken: dict[str, tuple[str, int]] = {}  # job_id -> (stream, the attempt its message carries)

    def take(machine: FlowMachine, job_id: str, _now: int) -> bool:
        job = machine.jobs[job_id]
        if job.status is not JobState.WAITING or not job.dispatched:
            return False
        taken[job_id] = (stream_name(job.queue_name, job.name), job.attempts_made + 1)
        return machine.requeue_lost(job_id)

    async def select(conn: aiosqlite.Connection) -> Groups:
        return await sent_not_started(conn, queues)

    done = await apply_to_flows(db, cache, select, take, clock())
    messages: list[tuple[str, str]] = []
    for stream in {stream for stream, _attempt in taken.values()}:
        held = await transport.held_messages(stream)
        for job_id in done:
            where, attempt = taken[job_id]
            if where == stream:
                messages += [(stream, message) for message in held.get((job_id, attempt), ())]
    await transport.drop_messages(messages)
    if done:
        log.info(
            "paused queue: sent jobs taken back",
            extra={"jobs": len(done), "messages": len(messages)},
        )
    return len(done)
