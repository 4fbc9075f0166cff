"""The dispatcher never spins on a ready job it can neither send nor fail."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import redis.asyncio as aredis

from backend.dispatch.cache import MachineCache
from backend.dispatch.dispatcher import Dispatcher
from backend.dispatch.registry import WorkerRegistry
from backend.dispatch.transport import RedisTransport
from backend.domain.tree import JobSpec, flatten
from backend.settings import Settings
from backend.store.store import Store
from backend.worker.heartbeat import WorkerInfo
from backend.worker.protocol import WORKERS_KEY


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_unsendable_unfailable_job_does_not_spin(settings: Settings) -> None:
    client = aredis.Redis.from_url(settings.redis_url)
    worker = WorkerInfo("w1", "h", 1, ("jobQueue",), ("echo",), now_ms(), now_ms())
    await client.hset(WORKERS_KEY, "w1", worker.to_json())
    await client.aclose()
    transport = RedisTransport(settings.redis_url)
    async with await Store.open(settings.db) as store:
        user, _token = await store.create_user("alice")
        jobs = flatten(JobSpec("nobody_knows", "jobQueue"), "f1", now_ms(), iter("ab").__next__)
        await store.create_flow(user.id, "f1", "nobody_knows", jobs)
        # the race the guard is for: the flow was cancelled while its job looked ready
        async with store.db.transaction() as conn:
            await conn.execute("UPDATE flows SET status = 'cancelled' WHERE id = 'f1'")
        registry = WorkerRegistry(transport, settings.stall_timeout, now_ms)
        dispatcher = Dispatcher(
            db=store.db,
            transport=transport,
            registry=registry,
            cache=MachineCache(),
            settings=replace(settings),
            clock=now_ms,
        )
        sent = await asyncio.wait_for(dispatcher.drain(), timeout=5)
        assert sent == 0
    await transport.close()
