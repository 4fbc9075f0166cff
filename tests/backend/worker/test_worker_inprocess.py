"""Workers inside the test's own event loop: the backend's in-process modes.

The in-memory broker (no Redis) runs the example tasks and hands events to
an ``asyncio.Queue``; the stream broker run by taskiq's ``Receiver`` in this
loop is what ``backend serve --tasks`` does with Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aredis
from aiohttp import web
from aiohttp.test_utils import TestServer
from taskiq import BrokerMessage
from taskiq.receiver import Receiver

import backend.examples.tasks
import backend.worker
from backend.settings import Settings
from backend.worker import adopt_tasks, build_broker
from backend.worker.brokers import FlowdeskMemoryBroker, FlowdeskStreamBroker
from backend.worker.protocol import (
    FLOW_LABEL,
    WORKERS_KEY,
    FlowLabel,
    WorkerEvent,
    WorkerEventType,
    build_message,
)
from backend.worker.runtime import StopReason
from backend.worker.sinks import QueueSink
from tests.backend.worker.workerkit import QUEUE, Events, send

assert backend.examples.tasks.echo is not None  # imported to register the examples


def broker_message(job_id: str, task: str, data: Any, label: FlowLabel) -> BrokerMessage:
    return BrokerMessage(
        task_id=job_id,
        task_name=task,
        message=build_message(job_id, task, data, label),
        labels={FLOW_LABEL: label.to_label()},
    )


@pytest.fixture
async def memory() -> AsyncIterator[tuple[FlowdeskMemoryBroker, QueueSink]]:
    sink = QueueSink()
    broker = build_broker(Settings(in_memory_broker=True, max_result_bytes=1000), sink)
    assert isinstance(broker, FlowdeskMemoryBroker)
    assert "echo" in adopt_tasks(broker, backend.worker.broker)
    await broker.startup()
    yield broker, sink
    await broker.shutdown()


async def final_event(sink: QueueSink, job_id: str) -> list[WorkerEvent]:
    seen: list[WorkerEvent] = []
    async with asyncio.timeout(10):
        while True:
            event = await sink.queue.get()
            if event.job_id == job_id:
                seen.append(event)
                if event.type in (WorkerEventType.COMPLETED, WorkerEventType.FAILED):
                    return seen


async def test_memory_broker_runs_example_tasks_with_children_values(
    memory: tuple[FlowdeskMemoryBroker, QueueSink],
) -> None:
    broker, sink = memory
    label = FlowLabel("f", 1, QUEUE, children_values={"a": 2, "b": [3, 4], "c": "x"})
    await broker.kick(broker_message("root", "sum", {"add": 1}, label))

    seen = await final_event(sink, "root")

    assert [e.type for e in seen] == [WorkerEventType.ACTIVE, WorkerEventType.COMPLETED]
    assert seen[-1].result == 10
    assert seen[-1].worker_id == broker.runtime.worker_id


async def test_memory_broker_fail_task_fails_then_succeeds_by_attempt(
    memory: tuple[FlowdeskMemoryBroker, QueueSink],
) -> None:
    broker, sink = memory
    data = {"times": 1, "message": "flaky", "value": "ok"}
    await broker.kick(broker_message("j", "fail", data, FlowLabel("f", 1, QUEUE)))
    first = (await final_event(sink, "j"))[-1]
    await broker.kick(broker_message("j", "fail", data, FlowLabel("f", 2, QUEUE)))
    second = (await final_event(sink, "j"))[-1]

    assert first.type is WorkerEventType.FAILED
    assert first.error is not None
    assert (first.error.type, first.error.message) == ("DemoFailure", "flaky")
    assert (second.type, second.attempt, second.result) == (WorkerEventType.COMPLETED, 2, "ok")


async def test_memory_broker_fails_an_unknown_task_for_good(
    memory: tuple[FlowdeskMemoryBroker, QueueSink],
) -> None:
    broker, sink = memory
    await broker.kick(broker_message("j", "no_such_task", {}, FlowLabel("f", 1, "webhooks")))

    [event] = await final_event(sink, "j")

    assert event.type is WorkerEventType.FAILED
    assert event.error is not None
    assert event.error.type == "UnknownTask"
    assert "no_such_task" in event.error.message
    assert "webhooks" in event.error.message
    assert not event.retryable


async def test_memory_broker_cancels_a_running_job(
    memory: tuple[FlowdeskMemoryBroker, QueueSink],
) -> None:
    broker, sink = memory
    await broker.kick(broker_message("j", "sleep", {"seconds": 60}, FlowLabel("f", 1, QUEUE)))
    first = await sink.queue.get()
    assert first.type is WorkerEventType.ACTIVE
    assert broker.runtime.stop("j", StopReason.CANCELLED)

    seen = await final_event(sink, "j")

    assert seen[-1].error is not None
    assert seen[-1].error.type == "Cancelled"
    assert broker.runtime.running == {}


async def test_http_task_returns_status_and_json_body(
    memory: tuple[FlowdeskMemoryBroker, QueueSink],
) -> None:
    received: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True}, status=201)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestServer(app) as server:
        broker, sink = memory
        data = {"method": "post", "url": str(server.make_url("/hook")), "json": {"n": 1}}
        await broker.kick(broker_message("h", "http", data, FlowLabel("f", 1, "webhooks")))
        seen = await final_event(sink, "h")

    assert seen[-1].result == {"status": 201, "body": {"ok": True}}
    assert received == [{"n": 1}]
    assert any(e.type is WorkerEventType.LOG and "201" in e.message for e in seen)


async def test_stream_broker_runs_in_process_and_stops_on_finish_event(
    redis_url: str, client: aredis.Redis, events: Events
) -> None:
    settings = Settings(redis_url=redis_url, queues=(QUEUE,), heartbeat_interval=0.2)
    broker = build_broker(settings)
    assert isinstance(broker, FlowdeskStreamBroker)
    adopt_tasks(broker, backend.worker.broker)
    broker.is_worker_process = True
    finish = asyncio.Event()
    receiver = Receiver(broker, max_async_tasks=10)
    running = asyncio.create_task(receiver.listen(finish))
    try:
        await send(client, "j1", "sum", {"add": 5}, label=FlowLabel("f", 1, QUEUE, {"c": 1}))
        final = await events.wait_final("j1")
        assert (final.type, final.result) == (WorkerEventType.COMPLETED, 6)
        [registered] = (await client.hgetall(WORKERS_KEY)).values()
        assert broker.runtime.worker_id in registered.decode()
        await asyncio.sleep(0.5)  # idle in its blocking read when told to finish
    finally:
        finish.set()
        async with asyncio.timeout(10):
            await running
            await broker.shutdown()
    assert await client.hgetall(WORKERS_KEY) == {}
