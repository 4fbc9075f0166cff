"""Raw taskiq baseline for bench_flows: a no-op task on taskiq-redis's stream broker."""

from __future__ import annotations

import os

from redis.asyncio import Redis
from taskiq_redis import RedisStreamBroker

URL = os.environ.get("FLOWDESK_REDIS_URL", "redis://127.0.0.1:6379/15")
broker = RedisStreamBroker(URL, queue_name="bench:raw", consumer_id="0")
_counter = Redis.from_url(URL)


@broker.task(task_name="raw_noop")
async def raw_noop() -> None:
    await _counter.incr("bench:raw:done")
