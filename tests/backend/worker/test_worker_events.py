"""A real ``taskiq worker`` turns Flowdesk messages into the contracted events."""

from __future__ import annotations

import redis.asyncio as aredis

from backend.worker.protocol import CONSUMER_GROUP, FlowLabel, WorkerEventType, stream_name
from tests.backend.worker.workerkit import QUEUE, Events, StartWorker, send, wait_until_acked


async def test_message_sent_before_the_worker_started_completes_with_its_value(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    data = {"a": [1, 2.5, "three"], "b": None}
    await send(client, "job-1", "t_echo", data, label=FlowLabel("flow-9", 3, QUEUE))
    await start_worker()

    final = await events.wait_final("job-1")

    assert final.type is WorkerEventType.COMPLETED
    assert final.result == data
    assert final.attempt == 3
    kinds = [event.type for event in events.of("job-1")]
    assert kinds == [WorkerEventType.ACTIVE, WorkerEventType.COMPLETED]
    assert events.of("job-1")[0].worker_id == final.worker_id != ""
    # acknowledged and removed: nothing pending, nothing left in the stream
    await wait_until_acked(client, stream_name(QUEUE, "t_echo"))
    assert await client.xlen(stream_name(QUEUE, "t_echo")) == 0


async def test_children_values_and_ignored_failures_reach_the_task(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    await start_worker()
    label = FlowLabel(
        flow_id="flow-2",
        attempt=2,
        queue=QUEUE,
        children_values={"c1": 4, "c2": {"nested": [1, 2]}, "c3": None},
        ignored_failures={"c4": "boom"},
    )
    await send(client, "parent", "t_context", {"x": 1}, label=label)

    final = await events.wait_final("parent")

    assert final.type is WorkerEventType.COMPLETED
    assert final.result == {
        "jobId": "parent",
        "flowId": "flow-2",
        "attempt": 2,
        "queue": QUEUE,
        "childrenValues": {"c1": 4, "c2": {"nested": [1, 2]}, "c3": None},
        "ignoredFailures": {"c4": "boom"},
        "data": {"x": 1},
    }


async def test_failure_carries_type_message_and_traceback(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    await start_worker()
    await send(client, "bad", "t_fail", {"message": "it broke"})

    final = await events.wait_final("bad")

    assert final.type is WorkerEventType.FAILED
    assert final.error is not None
    assert final.error.type == "ExpectedFailure"
    assert final.error.message == "it broke"
    assert "_raise_inner" in final.error.traceback
    assert final.retryable is True
    await wait_until_acked(client, stream_name(QUEUE, "t_fail"))


async def test_progress_and_log_events_arrive_in_order_before_completion(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    await start_worker()
    data = {"progress": [10, 50, {"step": "three"}], "logs": ["first line", "second line"]}
    await send(client, "chatty", "t_report", data)

    await events.wait_final("chatty")

    seen = events.of("chatty")
    assert [event.type for event in seen] == [
        WorkerEventType.ACTIVE,
        WorkerEventType.PROGRESS,
        WorkerEventType.PROGRESS,
        WorkerEventType.PROGRESS,
        WorkerEventType.LOG,
        WorkerEventType.LOG,
        WorkerEventType.COMPLETED,
    ]
    assert [event.progress for event in seen[1:4]] == [10, 50, {"step": "three"}]
    assert [event.message for event in seen[4:6]] == ["first line", "second line"]
    assert seen[-1].result == "reported"


async def test_timeout_fails_the_job_with_a_clear_message(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    await start_worker()
    await send(client, "slow", "t_sleep", {"seconds": 60}, timeout_s=0.3)

    final = await events.wait_final("slow")

    assert final.type is WorkerEventType.FAILED
    assert final.error is not None
    assert final.error.type == "TimeoutError"
    assert "timeout of 0.3 s" in final.error.message
    assert "t_sleep" in final.error.message


async def test_results_that_cannot_travel_fail_the_job(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    await start_worker(FLOWDESK_MAX_RESULT_BYTES="1000")
    await send(client, "odd", "t_unserialisable", None)
    await send(client, "big", "t_huge", {"size": 5000})
    await send(client, "fits", "t_huge", {"size": 100})

    odd = await events.wait_final("odd")
    big = await events.wait_final("big")
    fits = await events.wait_final("fits")

    assert odd.type is WorkerEventType.FAILED
    assert odd.error is not None
    assert odd.error.type == "ResultNotSerializable"
    assert "not JSON-serialisable" in odd.error.message
    assert big.type is WorkerEventType.FAILED
    assert big.error is not None
    assert big.error.type == "ResultTooLarge"
    assert "5002 bytes" in big.error.message
    assert "1000" in big.error.message
    assert not odd.retryable
    assert not big.retryable
    assert fits.type is WorkerEventType.COMPLETED
    assert fits.result == "x" * 100


async def test_stream_of_a_task_the_worker_does_not_know_is_not_consumed(
    client: aredis.Redis, events: Events, start_worker: StartWorker
) -> None:
    unknown = stream_name(QUEUE, "nobody_knows_this")
    await client.xgroup_create(unknown, CONSUMER_GROUP, id="0", mkstream=True)
    await send(client, "lost?", "nobody_knows_this", {})
    other_queue = stream_name("webhooks", "t_echo")  # a queue this worker does not consume
    await send(client, "elsewhere", "t_echo", 1, queue="webhooks")
    await start_worker()
    # a later known message completing shows the worker has been reading
    await send(client, "known", "t_echo", 2)
    await events.wait_final("known")

    assert events.of("lost?") == []
    assert events.of("elsewhere") == []
    assert await client.xlen(unknown) == 1
    groups = await client.xinfo_groups(unknown)
    assert groups[0]["pending"] == 0
    assert groups[0]["last-delivered-id"] == b"0-0"
    assert await client.xlen(other_queue) == 1
