"""The pure wire helpers: message building, labels, events, worker registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from taskiq import InMemoryBroker

from backend.dispatch.registry import WorkerRegistry
from backend.dispatch.transport import RedisTransport
from backend.worker.heartbeat import WorkerInfo
from backend.worker.middleware import encode_result
from backend.worker.protocol import (
    WORKERS_KEY,
    ErrorInfo,
    FlowLabel,
    WorkerEvent,
    WorkerEventType,
    build_message,
    stream_name,
)


def test_stream_name_joins_queue_and_task() -> None:
    assert stream_name("jobQueue", "resize") == "flowdesk:q:jobQueue:resize"


def test_message_parses_with_taskiqs_own_formatter() -> None:
    label = FlowLabel("f1", 2, "webhooks", {"c1": [1, {"a": None}]}, {"c2": {"type": "X"}})
    raw = build_message("job-1", "http", {"url": "http://x"}, label, timeout_s=2.5)

    message = InMemoryBroker().formatter.loads(raw)
    message.parse_labels()

    assert message.task_id == "job-1"
    assert message.task_name == "http"
    assert message.args == [{"url": "http://x"}]
    assert message.kwargs == {}
    assert message.labels["timeout"] == 2.5
    assert message.labels["ack_type"] == "when_saved"
    assert isinstance(message.labels["flowdesk"], str)
    assert FlowLabel.from_label(message.labels["flowdesk"]) == label


def test_message_without_timeout_has_no_timeout_label() -> None:
    raw = build_message("j", "echo", None, FlowLabel("f", 1, "q"))
    assert "timeout" not in json.loads(raw)["labels"]


def test_flow_label_json_uses_the_contract_keys() -> None:
    text = FlowLabel("f", 3, "q", {"a": 1}, {"b": "err"}).to_label()
    assert json.loads(text) == {
        "flowId": "f",
        "attempt": 3,
        "queue": "q",
        "childrenValues": {"a": 1},
        "ignoredFailures": {"b": "err"},
    }
    assert FlowLabel.from_label(json.loads(text)) == FlowLabel.from_label(text)


@pytest.mark.parametrize("raw", ["[1, 2]", "{}", '{"flowId": "f"}', "not json"])
def test_flow_label_rejects_malformed_text(raw: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        FlowLabel.from_label(raw)


EVENTS = [
    (WorkerEvent(WorkerEventType.ACTIVE, "j", 1, "w", 10), {}),
    (
        WorkerEvent(WorkerEventType.PROGRESS, "j", 1, "w", 11, progress={"p": 5}),
        {"progress": {"p": 5}},
    ),
    (WorkerEvent(WorkerEventType.LOG, "j", 2, "w", 12, message="hi"), {"message": "hi"}),
    (WorkerEvent(WorkerEventType.COMPLETED, "j", 1, "w", 13, result=None), {"result": None}),
    (
        WorkerEvent(
            WorkerEventType.FAILED,
            "j",
            1,
            "w",
            14,
            error=ErrorInfo("E", "m", "tb"),
            retryable=False,
        ),
        {"error": {"type": "E", "message": "m", "traceback": "tb"}, "retryable": False},
    ),
]


@pytest.mark.parametrize(("event", "extra"), EVENTS)
def test_event_json_carries_only_its_fields_and_round_trips(
    event: WorkerEvent, extra: dict[str, Any]
) -> None:
    obj = json.loads(event.to_json())
    base = {"type": event.type.value, "jobId": "j", "attempt": event.attempt}
    assert obj == {**base, "workerId": "w", "time": event.time, **extra}
    assert WorkerEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        ({"a": [1, 2.5, None, "x"]}, None),
        ("x" * 90, None),
        ("x" * 99, "ResultTooLarge"),  # 101 bytes with the quotes
        ({1, 2}, "ResultNotSerializable"),
        (float("nan"), "ResultNotSerializable"),
        (object(), "ResultNotSerializable"),
    ],
)
def test_encode_result_accepts_only_small_json(value: Any, error_type: str | None) -> None:
    problem = encode_result(value, max_bytes=100)
    assert (problem.type if problem else None) == error_type


def info(worker_id: str, heartbeat_at: int) -> WorkerInfo:
    return WorkerInfo(worker_id, "host", 1, ("q",), ("t",), 0, heartbeat_at)


@pytest.mark.parametrize(
    ("beats", "now", "alive"),
    [
        ({"a": 10_000, "b": 4_000}, 10_000, ["a"]),  # b is 6 s old, limit 5 s
        ({"a": 5_000}, 10_000, ["a"]),  # exactly at the limit still counts
        ({"a": 4_999}, 10_000, []),
        ({"b": 9_000, "a": 9_500}, 10_000, ["a", "b"]),  # sorted by id
        ({}, 10_000, []),
    ],
)
async def test_the_registry_keeps_recent_heartbeats(
    redis_url: str, beats: dict[str, int], now: int, alive: list[str]
) -> None:
    raw = {wid: info(wid, at).to_json() for wid, at in beats.items()}
    assert await live_ids(redis_url, raw, now, stall_timeout=5) == alive


async def test_the_registry_skips_unreadable_entries(redis_url: str) -> None:
    raw = {"x": "not json", "y": '{"id": "y"}', "z": info("z", 100).to_json()}
    assert await live_ids(redis_url, raw, 100, stall_timeout=1) == ["z"]


async def live_ids(
    redis_url: str, raw: dict[str, str], now: int, stall_timeout: float
) -> list[str]:
    """Write ``raw`` as the registry hash; the ids a backend's registry finds live."""
    transport = RedisTransport(redis_url)
    try:
        if raw:
            await transport.redis.hset(WORKERS_KEY, mapping=raw)  # type: ignore[misc]
        registry = WorkerRegistry(transport, stall_timeout, lambda: now)
        return sorted(worker.id for worker in await registry.refresh(force=True))
    finally:
        await transport.close()


def test_worker_info_round_trips() -> None:
    original = WorkerInfo("w1", "h", 42, ("a", "b"), ("echo",), 1, 2)
    assert WorkerInfo.from_json(original.to_json()) == original
    assert set(json.loads(original.to_json())) == {
        "id",
        "host",
        "pid",
        "queues",
        "tasks",
        "startedAt",
        "heartbeatAt",
    }
