"""Helpers and fixtures for worker tests: real ``taskiq worker`` subprocesses on a private Redis.

``start_worker`` runs ``python -m taskiq worker backend.worker:broker
tests.tasks.flow_tasks`` in its own session (so the taskiq supervisor and
its worker child can be signalled together) with short heartbeat, reclaim
and shutdown settings, and waits until the worker has registered itself.
``Events`` reads ``flowdesk:events`` as the backend would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis

from backend.worker.protocol import (
    CONSUMER_GROUP,
    EVENTS_STREAM,
    WORKERS_KEY,
    FlowLabel,
    WorkerEvent,
    WorkerEventType,
    build_message,
    stream_name,
)

ROOT = Path(__file__).resolve().parents[3]
QUEUE = "jobQueue"
WAIT = 30.0  # upper bound of every wait: a test fails instead of hanging


@dataclass
class WorkerProc:
    proc: subprocess.Popen[bytes]
    log: Path

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def worker_env(redis_url: str, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "FLOWDESK_REDIS_URL": redis_url,
            "FLOWDESK_QUEUES": QUEUE,
            "FLOWDESK_HEARTBEAT_INTERVAL": "0.2",
            "FLOWDESK_RECLAIM_IDLE": "1.5",
            "FLOWDESK_SHUTDOWN_TIMEOUT": "3",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(overrides)
    return env


def spawn_worker(
    python: str, env: dict[str, str], log: Path, args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                python,
                "-m",
                "taskiq",
                "worker",
                "backend.worker:broker",
                "tests.tasks.flow_tasks",
                "--workers",
                "1",
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def registered_pids(client: aredis.Redis) -> set[int]:
    raw = await client.hgetall(WORKERS_KEY)
    return {json.loads(value)["pid"] for value in raw.values()}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    conn = aredis.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


StartWorker = Callable[..., Awaitable[WorkerProc]]


@pytest.fixture
def start_worker(redis_url: str, client: aredis.Redis, tmp_path: Path) -> Iterator[StartWorker]:
    procs: list[WorkerProc] = []

    async def start(
        python: str = sys.executable, args: tuple[str, ...] = (), wait: bool = True, **env: str
    ) -> WorkerProc:
        before = await registered_pids(client)
        log = tmp_path / f"worker-{len(procs)}.log"
        proc = spawn_worker(python, worker_env(redis_url, **env), log, args)
        worker = WorkerProc(proc, log)
        procs.append(worker)
        if wait:
            deadline = time.monotonic() + WAIT
            while not (await registered_pids(client)) - before:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker did not register:\n{worker.output()}")
                await asyncio.sleep(0.05)
        return worker

    yield start
    for worker in procs:
        if worker.proc.poll() is None:
            worker.signal(signal.SIGKILL)
            worker.proc.wait(10)


class Events:
    """Reads the events stream from the start, keeping what it has seen."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self.seen: list[WorkerEvent] = []
        self._last = "0-0"

    async def _poll(self) -> None:
        fetched = await self.client.xread({EVENTS_STREAM: self._last}, block=100)
        for _stream, entries in fetched or []:
            for entry_id, fields in entries:
                self._last = entry_id.decode()
                self.seen.append(WorkerEvent.from_json(fields[b"data"]))

    def of(self, job_id: str) -> list[WorkerEvent]:
        return [event for event in self.seen if event.job_id == job_id]

    async def wait_for(
        self, job_id: str, kind: WorkerEventType, within: float = WAIT
    ) -> WorkerEvent:
        deadline = time.monotonic() + within
        while True:
            for event in self.of(job_id):
                if event.type is kind:
                    return event
            if time.monotonic() > deadline:
                pytest.fail(f"no {kind} event for {job_id}; saw {self.of(job_id)}")
            await self._poll()

    async def wait_final(self, job_id: str, within: float = WAIT) -> WorkerEvent:
        deadline = time.monotonic() + within
        while True:
            for event in self.of(job_id):
                if event.type in (WorkerEventType.COMPLETED, WorkerEventType.FAILED):
                    return event
            if time.monotonic() > deadline:
                pytest.fail(f"no final event for {job_id}; saw {self.of(job_id)}")
            await self._poll()


@pytest.fixture
def events(client: aredis.Redis) -> Events:
    return Events(client)


async def send(
    client: aredis.Redis,
    job_id: str,
    task: str,
    data: Any,
    *,
    label: FlowLabel | None = None,
    timeout_s: float | None = None,
    queue: str = QUEUE,
) -> None:
    """What the backend's dispatcher does for one job."""
    label = label or FlowLabel(flow_id="flow-1", attempt=1, queue=queue)
    message = build_message(job_id, task, data, label, timeout_s)
    await client.xadd(stream_name(queue, task), {"data": message})


async def wait_until_acked(client: aredis.Redis, stream: str, within: float = WAIT) -> None:
    """Events are published before the ack, so the ack may trail the final event."""
    deadline = time.monotonic() + within
    while (await client.xpending(stream, CONSUMER_GROUP))["pending"]:
        if time.monotonic() > deadline:
            pytest.fail(f"message on {stream} never acknowledged")
        await asyncio.sleep(0.05)
