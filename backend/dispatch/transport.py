"""The backend's side of the wire to workers, behind one small interface.

``Transport`` is everything the dispatcher, the event consumer and the
monitor need from the broker: send job messages in batches, read and
acknowledge worker events, list live workers, ask a worker to cancel a job,
and tell whether the broker lost its contents. ``RedisTransport`` speaks the
contract of ``docs/architecture.md`` through one reused redis-py client and
pipelines (taskiq-redis's own ``kick`` builds a client per message);
``MemoryTransport`` serves the desktop's no-Redis mode with taskiq's
in-memory broker and an in-process event queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from backend.clock import now_ms
from backend.errors import BrokerUnavailable
from backend.worker.heartbeat import WorkerInfo
from backend.worker.protocol import (
    CANCEL_CHANNEL,
    CONSUMER_GROUP,
    EVENTS_STREAM,
    WORKERS_KEY,
    WorkerEvent,
    message_attempt,
    stream_name,
)
from backend.worker.runtime import StopReason

log = logging.getLogger(__name__)

EVENTS_GROUP = "flowdesk-backend"
EPOCH_KEY = "flowdesk:epoch"  # marker: "this Redis holds what the backend sent"
EVENTS_CONSUMER = "backend"
SCAN_PAGE = 1000  # stream entries per XRANGE when looking for lost messages


@dataclass(frozen=True)
class Outgoing:
    """One job message ready to send."""

    job_id: str
    queue: str
    task: str
    body: bytes


@dataclass(frozen=True)
class Received:
    """A worker event read from the broker, with the id to acknowledge it by."""

    ack_id: str
    event: WorkerEvent | None  # None: unreadable entry, acknowledged and skipped


class Transport(Protocol):
    mode: str  # "redis" or "in-memory", as /health reports it

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def send(self, messages: Sequence[Outgoing]) -> None: ...
    async def read_events(self, count: int, block_ms: int) -> list[Received]: ...
    async def ack_events(self, ack_ids: Sequence[str]) -> None: ...
    async def workers(self) -> list[WorkerInfo]: ...
    async def cancel(self, job_ids: Sequence[str]) -> None: ...
    async def drop_messages(self, deliveries: Sequence[tuple[str, str]]) -> None: ...
    async def stream_lengths(self, streams: Sequence[str]) -> Mapping[str, int] | None: ...
    async def held_attempts(self, stream: str) -> set[tuple[str, int]]: ...
    async def held_messages(self, stream: str) -> dict[tuple[str, int], list[str]]: ...
    async def server_id(self) -> str: ...
    async def broker_epoch(self) -> str | None: ...
    async def set_broker_epoch(self, epoch: str) -> None: ...
    async def ping(self) -> bool: ...
    async def event_backlog(self) -> int | None:
        """Worker events published but not yet acknowledged; ``None`` if unknown now."""
        ...


def _parse_entry(ack_id: str, fields: dict[bytes, bytes]) -> Received:
    try:
        return Received(ack_id, WorkerEvent.from_json(fields[b"data"]))
    except (KeyError, ValueError, TypeError) as exc:
        log.warning("bad worker event", extra={"id": ack_id, "error": str(exc)})
        return Received(ack_id, None)


class RedisTransport:
    """Redis streams and a hash, as ``docs/architecture.md`` specifies."""

    mode = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis: Redis = Redis.from_url(url)
        self._pending_first = True  # after a restart, re-read what we read but never acked

    async def start(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(
                f"cannot reach Redis at {self.url}: {exc} (start Redis, point --redis-url "
                "at it, or run without it with --in-memory-broker and --tasks)"
            ) from exc
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(EVENTS_STREAM, EVENTS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        await self.redis.aclose()

    async def send(self, messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.xadd(stream_name(message.queue, message.task), {"data": message.body})
            await pipe.execute()

    async def read_events(self, count: int, block_ms: int) -> list[Received]:
        start = "0" if self._pending_first else ">"
        try:
            reply: Any = await self.redis.xreadgroup(
                EVENTS_GROUP,
                EVENTS_CONSUMER,
                {EVENTS_STREAM: start},
                count=count,
                block=None if self._pending_first else block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis restarted empty: the group is gone with everything else.
            await self._ensure_group()
            return []
        entries = [entry for _stream, batch in reply or [] for entry in batch]
        if self._pending_first and len(entries) < count:
            self._pending_first = False
        return [_parse_entry(entry_id.decode(), fields) for entry_id, fields in entries]

    async def ack_events(self, ack_ids: Sequence[str]) -> None:
        if not ack_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(EVENTS_STREAM, EVENTS_GROUP, *ack_ids)
            pipe.xdel(EVENTS_STREAM, *ack_ids)
            await pipe.execute()

    async def workers(self) -> list[WorkerInfo]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(WORKERS_KEY)  # type: ignore[assignment]
        found = []
        for value in raw.values():
            try:
                found.append(WorkerInfo.from_json(value))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    async def remove_worker(self, worker_id: str) -> None:
        await self.redis.hdel(WORKERS_KEY, worker_id)

    async def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            await self.redis.publish(CANCEL_CHANNEL, job_id)

    async def drop_messages(self, deliveries: Sequence[tuple[str, str]]) -> None:
        """Acknowledge and delete job messages a dead worker left pending."""
        if not deliveries:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, message_id in deliveries:
                pipe.xack(stream, CONSUMER_GROUP, message_id)
                pipe.xdel(stream, message_id)
            await pipe.execute()

    async def stream_lengths(self, streams: Sequence[str]) -> Mapping[str, int] | None:
        """How many entries each job stream holds (read, unread and pending alike)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xlen(stream)
            lengths = await pipe.execute()
        return dict(zip(streams, (int(n) for n in lengths), strict=True))

    async def held_attempts(self, stream: str) -> set[tuple[str, int]]:
        """``(job id, attempt)`` of every message the stream holds, read in pages."""
        return set(await self.held_messages(stream))

    async def held_messages(self, stream: str) -> dict[tuple[str, int], list[str]]:
        """``(job id, attempt)`` -> the ids of the stream's messages carrying it."""
        held: dict[tuple[str, int], list[str]] = {}
        start = "-"
        while True:
            page = cast(
                "list[tuple[bytes, dict[bytes, bytes]]]",
                await self.redis.xrange(stream, min=start, max="+", count=SCAN_PAGE),
            )
            for entry_id, fields in page:
                found = message_attempt(fields.get(b"data", b""))
                if found is not None:
                    held.setdefault(found, []).append(entry_id.decode())
            if len(page) < SCAN_PAGE:
                return held
            start = "(" + page[-1][0].decode()

    async def server_id(self) -> str:
        info = await self.redis.info("server")
        return str(info["run_id"])

    async def broker_epoch(self) -> str | None:
        raw = await self.redis.get(EPOCH_KEY)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def set_broker_epoch(self, epoch: str) -> None:
        await self.redis.set(EPOCH_KEY, epoch)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def event_backlog(self) -> int | None:
        try:
            return int(await self.redis.xlen(EVENTS_STREAM))
        except (RedisError, OSError):
            return None  # Redis away: /metrics still answers, without this gauge


class MemoryTransport:
    """No Redis: messages go to taskiq's in-memory broker, events come back on a queue."""

    mode = "in-memory"

    def __init__(self, broker: Any, events: asyncio.Queue[WorkerEvent], worker: WorkerInfo) -> None:
        self.broker = broker
        self.events = events
        self.worker = worker
        self._next_id = 0
        self._epoch: str | None = None  # the queue lives as long as this process

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None  # the in-process worker is closed by its owner

    async def send(self, messages: Sequence[Outgoing]) -> None:
        from taskiq.message import BrokerMessage, TaskiqMessage

        for message in messages:
            parsed = TaskiqMessage.model_validate_json(message.body)
            broker_message = BrokerMessage(
                task_id=parsed.task_id,
                task_name=parsed.task_name,
                message=message.body,
                labels=parsed.labels,
            )
            await self.broker.kick(broker_message)

    async def read_events(self, count: int, block_ms: int) -> list[Received]:
        out: list[Received] = []
        try:
            async with asyncio.timeout(block_ms / 1000):  # not wait_for: see backend.shutdown
                first = await self.events.get()
        except TimeoutError:
            return out
        out.append(self._received(first))
        while len(out) < count and not self.events.empty():
            out.append(self._received(self.events.get_nowait()))
        return out

    def _received(self, event: WorkerEvent) -> Received:
        self._next_id += 1
        return Received(str(self._next_id), event)

    async def ack_events(self, ack_ids: Sequence[str]) -> None:
        return None

    async def workers(self) -> list[WorkerInfo]:
        # The in-process worker lives exactly as long as this transport.
        return [replace(self.worker, heartbeat_at=now_ms())]

    async def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            self.broker.runtime.stop(job_id, StopReason.CANCELLED)

    async def drop_messages(self, deliveries: Sequence[tuple[str, str]]) -> None:
        return None  # in-process: no stream, nothing is redelivered

    async def stream_lengths(self, streams: Sequence[str]) -> Mapping[str, int] | None:
        return None  # in-process: a message cannot be lost apart from the whole process

    async def held_attempts(self, stream: str) -> set[tuple[str, int]]:
        return set()

    async def held_messages(self, stream: str) -> dict[tuple[str, int], list[str]]:
        return {}

    async def server_id(self) -> str:
        return "memory"

    async def broker_epoch(self) -> str | None:
        return self._epoch

    async def set_broker_epoch(self, epoch: str) -> None:
        self._epoch = epoch

    async def ping(self) -> bool:
        return True

    async def event_backlog(self) -> int | None:
        return self.events.qsize()
