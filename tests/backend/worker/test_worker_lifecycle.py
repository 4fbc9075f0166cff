"""Worker lifecycle with real processes: registry, signals, kill -9, cancel."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aredis

from backend.worker.heartbeat import WorkerInfo
from backend.worker.protocol import CANCEL_CHANNEL, WORKERS_KEY, WorkerEventType, stream_name
from tests.backend.worker.workerkit import (
    QUEUE,
    WAIT,
    Events,
    StartWorker,
    send,
    wait_until_acked,
)

SHUTDOWN_TIMEOUT = 3.0  # FLOWDESK_SHUTDOWN_TIMEOUT of the workers (workerkit)
# taskiq's supervisor polls its children every second, then our shutdown runs
EXIT_BOUND = SHUTDOWN_TIMEOUT + 5.0
# A Python 3.12 environment with the worker dependencies (optional; skipped if absent)
VENV312 = Path(os.environ.get("FLOWDESK_TEST_PY312", "/tmp/flowdesk-venv312/bin/python"))


async def registrations(client: aredis.Redis) -> list[WorkerInfo]:
    raw = await client.hgetall(WORKERS_KEY)
    return [WorkerInfo.from_json(value) for value in raw.values()]


async def test_worker_registers_heartbeats_and_deregisters_on_sigterm(
    client: aredis.Redis, start_worker: StartWorker
) -> None:
    worker = await start_worker()
    [info] = await registrations(client)
    assert info.queues == (QUEUE,)
    assert {"t_echo", "t_sleep", "t_context"} <= set(info.tasks)
    assert info.started_at <= info.heartbeat_at

    deadline = time.monotonic() + WAIT
    while (await registrations(client))[0].heartbeat_at <= info.heartbeat_at:
        assert time.monotonic() < deadline, "no heartbeat"
        await asyncio.sleep(0.05)
    [later] = await registrations(client)
    assert later.id == info.id
    assert later.started_at == info.started_at

    worker.signal(signal.SIGTERM)
    assert worker.wait(EXIT_BOUND) == 0, worker.output()
    assert await client.hgetall(WORKERS_KEY) == {}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_idle_worker_stops_promptly_on_signal(
    client: aredis.Redis, start_worker: StartWorker, sig: signal.Signals
) -> None:
    worker = await start_worker()
    await asyncio.sleep(1.0)  # let it settle into its blocking stream read
    worker.signal(sig)
    assert worker.wait(EXIT_BOUND) == 0, worker.output()
    assert await client.hgetall(WORKERS_KEY) == {}


@pytest.mark.skipif(not VENV312.exists(), reason="no Python 3.12 venv (FLOWDESK_TEST_PY312)")
async def test_idle_worker_stops_promptly_on_python_312(
    client: aredis.Redis, start_worker: StartWorker
) -> None:
    worker = await start_worker(python=str(VENV312))
    await asyncio.sleep(1.0)
    worker.signal(signal.SIGTERM)
    assert worker.wait(EXIT_BOUND) == 0, worker.output()


async def test_job_of_a_killed_worker_runs_again_on_another(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    first = await start_worker()
    await send(client, "survivor", "t_sleep", {"seconds": 2, "value": "done"})
    active = await events.wait_for("survivor", WorkerEventType.ACTIVE)
    first.signal(signal.SIGKILL)
    first.wait(10)

    await start_worker()  # nothing else is sent: the timed reclaim must find it
    final = await events.wait_final("survivor")

    assert final.type is WorkerEventType.COMPLETED
    assert final.result["value"] == "done"
    assert final.worker_id != active.worker_id
    await wait_until_acked(client, stream_name(QUEUE, "t_sleep"))


async def test_live_worker_keeps_its_long_and_buffered_jobs(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    # One task at a time: "long" runs past reclaim_idle (1.5 s) while "queued",
    # read in the same batch, waits in the worker's buffer for as long.
    await send(client, "long", "t_sleep", {"seconds": 4})
    await send(client, "queued", "t_sleep", {"seconds": 0.1})
    await start_worker(args=("--max-async-tasks", "1"))
    [first] = await registrations(client)
    await events.wait_for("long", WorkerEventType.ACTIVE)
    await start_worker()  # idle, reclaiming every 0.75 s: must find nothing to take

    long_final = await events.wait_final("long")
    queued_final = await events.wait_final("queued")

    owner = long_final.worker_id
    assert owner == first.id
    for job in ("long", "queued"):
        actives = [e for e in events.of(job) if e.type is WorkerEventType.ACTIVE]
        assert [e.worker_id for e in actives] == [owner], job
    assert queued_final.worker_id == owner
    assert queued_final.type is WorkerEventType.COMPLETED


async def test_running_job_is_cancelled_on_request(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    await start_worker()
    await send(client, "doomed", "t_sleep", {"seconds": 60})
    await events.wait_for("doomed", WorkerEventType.ACTIVE)
    await client.publish(CANCEL_CHANNEL, "someone-else")
    await client.publish(CANCEL_CHANNEL, "doomed")

    final = await events.wait_final("doomed")

    assert final.type is WorkerEventType.FAILED
    assert final.error is not None
    assert final.error.type == "Cancelled"
    assert not final.retryable
    await wait_until_acked(client, stream_name(QUEUE, "t_sleep"))
    # the worker goes on working after a cancel
    await send(client, "next", "t_echo", "still here")
    assert (await events.wait_final("next")).result == "still here"


async def test_sigterm_hands_back_a_job_that_outlasts_the_shutdown_timeout(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    first = await start_worker()
    await send(client, "long", "t_sleep", {"seconds": 30, "value": 7})
    await send(client, "short", "t_sleep", {"seconds": 0.5, "value": 8})
    await events.wait_for("long", WorkerEventType.ACTIVE)
    await events.wait_for("short", WorkerEventType.ACTIVE)

    first.signal(signal.SIGTERM)
    assert first.wait(EXIT_BOUND) == 0, first.output()

    # the short job finished during the grace period; the long one was handed
    # back: no final event, message still pending for another worker
    assert (await events.wait_final("short")).result["value"] == 8
    assert [e.type for e in events.of("long")] == [WorkerEventType.ACTIVE, WorkerEventType.LOG]
    pending = await client.xpending(stream_name(QUEUE, "t_sleep"), "flowdesk")
    assert pending["pending"] == 1
    registered = await client.hgetall(WORKERS_KEY)
    assert registered == {}, json.dumps({k.decode(): v.decode() for k, v in registered.items()})
