"""Drive the backend's writers one step at a time, and check the event log.

``Writers`` is the real execution layer (dispatcher, event consumer, monitor,
commands) over a real SQLite store and a private Redis, with no background
task running: a test calls each writer itself, in the order it wants to
examine, with a settable clock. Worker events are handed to the consumer as
the stream would deliver them. ``assert_log_replays`` is the check every
state change must pass: replaying the event log from zero (flows from their
``flow:created``/``flow:updated`` payloads, jobs from the tree as created
plus every ``flow:job:updated`` payload) gives exactly what is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aredis

from backend.dispatch.service import Execution
from backend.dispatch.transport import Outgoing, Received, RedisTransport
from backend.domain.models import JobOptions, User
from backend.domain.tree import JobSpec, flatten
from backend.schemas import FlowJobResponse, FlowResponse
from backend.settings import Settings
from backend.store.store import Store
from backend.worker.heartbeat import WorkerInfo
from backend.worker.protocol import (
    WORKERS_KEY,
    ErrorInfo,
    WorkerEvent,
    WorkerEventType,
    message_attempt,
)

JsonObj = dict[str, Any]


class Clock:
    """A settable clock in epoch milliseconds."""

    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


class GatedTransport(RedisTransport):
    """The real Redis transport, with a hook that runs just before a send.

    It lets a test put another writer's step between the dispatcher's read
    of the outbox and its mark, where the lost retry happened.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.before_send: Callable[[], Awaitable[None]] | None = None

    async def send(self, messages: Sequence[Outgoing]) -> None:
        hook, self.before_send = self.before_send, None
        if hook is not None:
            await hook()
        await super().send(messages)


@dataclass
class Writers:
    store: Store
    execution: Execution
    transport: GatedTransport
    clock: Clock
    user: User
    created: dict[str, JsonObj] = field(default_factory=dict)  # jobs as each flow was created
    _seq: int = 0

    @property
    def redis(self) -> aredis.Redis:
        return self.transport.redis

    async def create(self, flow_id: str, root: JobSpec) -> None:
        jobs = flatten(
            root, flow_id, self.clock(), iter(f"{flow_id}-{n}" for n in range(99)).__next__
        )
        await self.store.create_flow(self.user.id, flow_id, root.name, jobs)
        for job in await self.store.list_jobs(self.user.id, flow_id):
            self.created[job.job_id] = _wire(FlowJobResponse.of(job))

    async def beat(self, worker_id: str = "w1", tasks: Sequence[str] = ("echo", "fail")) -> None:
        """Register (or refresh) a live worker of ``jobQueue`` knowing ``tasks``."""
        now = self.clock()
        info = WorkerInfo(worker_id, "host", 1, ("jobQueue",), tuple(tasks), now, now)
        await self.redis.hset(WORKERS_KEY, worker_id, info.to_json())
        await self.execution.registry.refresh(force=True)

    async def events(self, *events: WorkerEvent) -> None:
        """Hand worker events to the consumer as one batch read from the stream.

        As a worker does, a message is deleted from its stream once its
        attempt's final event is published.
        """
        received = []
        for event in events:
            self._seq += 1
            received.append(Received(f"0-{self._seq}", event))
            if event.type in (WorkerEventType.COMPLETED, WorkerEventType.FAILED):
                await self.delete_message(event.job_id, event.attempt)
        await self.execution.consumer.apply(received)

    async def delete_message(self, job_id: str, attempt: int) -> None:
        async for key in self.redis.scan_iter(match="flowdesk:q:*"):
            for entry_id, fields in await self.redis.xrange(key):
                if message_attempt(fields[b"data"]) == (job_id, attempt):
                    await self.redis.xdel(key, entry_id)

    def active(self, job_id: str, attempt: int, worker: str = "w1") -> WorkerEvent:
        return WorkerEvent(WorkerEventType.ACTIVE, job_id, attempt, worker, self.clock())

    def completed(self, job_id: str, attempt: int, result: Any = 1) -> WorkerEvent:
        return WorkerEvent(
            WorkerEventType.COMPLETED, job_id, attempt, "w1", self.clock(), result=result
        )

    def failed(self, job_id: str, attempt: int) -> WorkerEvent:
        error = ErrorInfo("RuntimeError", f"attempt {attempt} failed")
        return WorkerEvent(WorkerEventType.FAILED, job_id, attempt, "w1", self.clock(), error=error)

    async def job(self, job_id: str) -> JsonObj:
        return _wire(FlowJobResponse.of(await self.store.get_job(self.user.id, job_id)))

    async def dispatched(self, job_id: str) -> bool:
        return (await self.store.get_job(self.user.id, job_id)).dispatched

    async def queued(self) -> list[tuple[str, int]]:
        """(job id, attempt) of every message in the job streams, in order."""
        held: list[tuple[str, int]] = []
        async for key in self.redis.scan_iter(match="flowdesk:q:*"):
            for _id, fields in await self.redis.xrange(key):
                found = message_attempt(fields[b"data"])
                assert found is not None
                held.append(found)
        return sorted(held)

    async def label(self, job_id: str) -> JsonObj:
        """The flowdesk label of the job's (newest) message."""
        found: JsonObj = {}
        async for key in self.redis.scan_iter(match="flowdesk:q:*"):
            for _id, fields in await self.redis.xrange(key):
                message = json.loads(fields[b"data"])
                if message["task_id"] == job_id:
                    found = json.loads(message["labels"]["flowdesk"])
        return found


def spec(name: str, job_id: str, *children: JobSpec, **opts: object) -> JobSpec:
    """A job of ``jobQueue`` with a caller-chosen id."""
    options = JobOptions(job_id=job_id, **opts)  # type: ignore[arg-type]
    return JobSpec(name, "jobQueue", opts=options, children=children)


@pytest.fixture
async def writers(settings: Settings) -> AsyncIterator[Writers]:
    """The execution layer over a new store, its background tasks not started."""
    clock = Clock(int(time.time() * 1000))
    transport = GatedTransport(settings.redis_url)
    await transport.start()
    async with await Store.open(settings.db, clock=clock) as store:
        execution = Execution(settings=settings, db=store.db, transport=transport, clock=clock)
        await execution.monitor.check_redis_reset()  # a new database: the marker is set
        user, _token = await store.create_user("alice")
        yield Writers(store, execution, transport, clock, user)
    await transport.close()


def _wire(model: FlowJobResponse | FlowResponse) -> JsonObj:
    return model.model_dump(mode="json", by_alias=True)


async def assert_log_replays(store: Store, user: User, created: dict[str, JsonObj]) -> None:
    """Replaying the event log from zero reproduces the stored flows and jobs exactly."""
    flows: dict[str, JsonObj] = {}
    jobs = {job_id: dict(payload) for job_id, payload in created.items()}
    async with (
        store.db.read() as conn,
        conn.execute("SELECT type, flow_id, payload FROM events ORDER BY seq") as cursor,
    ):
        log = [
            (row["type"], row["flow_id"], json.loads(row["payload"]))
            for row in await cursor.fetchall()
        ]
    for kind, flow_id, payload in log:
        if kind in ("flow:created", "flow:updated"):
            flows[flow_id] = payload
        elif kind == "flow:job:updated":
            jobs[payload["jobId"]] = payload
    for flow_id, replayed in flows.items():
        stored = _wire(FlowResponse.of(await store.get_flow(user.id, flow_id)))
        assert replayed == stored, f"flow {flow_id}: the log says {replayed}, the store {stored}"
        for job in await store.list_jobs(user.id, flow_id):
            stored_job = _wire(FlowJobResponse.of(job))
            assert jobs[job.job_id] == stored_job, (
                f"job {job.job_id}: the log says {jobs[job.job_id]}, the store {stored_job}"
            )
