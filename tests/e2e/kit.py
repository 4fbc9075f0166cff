"""End-to-end fixtures: a real backend, real ``taskiq worker`` processes, real Redis.

``backend`` runs the real aiohttp application with its execution layer on a
real port over a SQLite file; ``workers`` starts ``taskiq worker
backend.worker:broker tests.tasks.e2e_tasks`` subprocesses; ``api`` is an
authenticated JSON client. Waits are bounded, so a broken flow fails the test
instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestServer

from backend.api.context import OPENAPI_DOC
from backend.api.server import create_server_app
from backend.settings import Settings
from backend.store.store import Store
from tests.backend.api.api_helpers import ResponseRecorder

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests.tasks.e2e_tasks"
WAIT = 60.0
FAST = {
    "heartbeat_interval": 0.2,
    "stall_timeout": 2.0,
    "reclaim_idle": 4.0,
    "shutdown_timeout": 3.0,
}


def fast_settings(redis_url: str, db: Path, **overrides: Any) -> Settings:
    return replace(Settings(), redis_url=redis_url, db=db, **{**FAST, **overrides})


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "FLOWDESK_REDIS_URL": settings.redis_url,
            "FLOWDESK_HEARTBEAT_INTERVAL": str(settings.heartbeat_interval),
            "FLOWDESK_RECLAIM_IDLE": str(settings.reclaim_idle),
            "FLOWDESK_SHUTDOWN_TIMEOUT": str(settings.shutdown_timeout),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


class Workers:
    """Starts and kills ``taskiq worker`` processes."""

    def __init__(self, settings: Settings, logdir: Path) -> None:
        self.settings = settings
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *modules: str, queues: str | None = None) -> subprocess.Popen[bytes]:
        env = worker_env(self.settings)
        if queues is not None:
            env["FLOWDESK_QUEUES"] = queues
        with (self.logdir / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "taskiq", "worker", "backend.worker:broker",
                 *(modules or (TASKS,)), "--workers", "1"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        os.killpg(proc.pid, sig)
        proc.wait(15)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)


class Api:
    """An authenticated JSON client of the backend."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session = session
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers
        ) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        assert status < 300, (status, data)
        return data

    async def create(self, tree: dict[str, Any]) -> dict[str, Any]:
        status, data = await self.call("POST", "/flows", tree)
        assert status == 201, data
        return data  # type: ignore[no-any-return]

    async def wait_flow(
        self, flow_id: str, done: Any = None, within: float = WAIT
    ) -> dict[str, Any]:
        """Poll until the flow is not active (or ``done(flow)`` is true)."""
        deadline = time.monotonic() + within
        while True:
            flow = await self.ok("GET", f"/flows/{flow_id}")
            if done(flow) if done else flow["status"] != "active":
                return flow  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                jobs = await self.ok("GET", f"/flows/{flow_id}/jobs")
                states = {j["jobId"]: (j["status"], j["error"]) for j in jobs["items"]}
                pytest.fail(f"flow {flow_id} still {flow['status']}: {states}")
            await asyncio.sleep(0.05)

    async def jobs(self, flow_id: str) -> dict[str, dict[str, Any]]:
        data = await self.ok("GET", f"/flows/{flow_id}/jobs")
        return {job["jobId"]: job for job in data["items"]}


@dataclass
class Backend:
    settings: Settings
    store: Store
    server: TestServer
    api: Api
    recorder: ResponseRecorder


def runs(redis_url: str) -> list[dict[str, Any]]:
    """The tasks' own records of every run."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(raw) for raw in client.lrange("e2e:runs", 0, -1)]
    finally:
        client.close()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return fast_settings(redis_url, tmp_path / "flowdesk.db")


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()


async def start_backend(settings: Settings) -> Backend:
    store = await Store.open(settings.db)
    _user, token = await store.create_user("alice") if not await store.list_users() else (
        None, await store.issue_token("alice"))  # fmt: skip
    app = create_server_app(settings, store)
    recorder = ResponseRecorder()
    app.middlewares.insert(0, recorder.middleware)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    api = Api(session, str(server.make_url("")).rstrip("/"), token)
    return Backend(settings, store, server, api, recorder)


async def stop_backend(backend: Backend) -> None:
    """Stop, then check every JSON body the backend answered against its OpenAPI schema."""
    doc = backend.server.app[OPENAPI_DOC]
    await backend.api.session.close()
    await backend.server.close()
    await backend.store.close()
    assert backend.recorder.check(doc) > 0


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[Backend]:
    running = await start_backend(settings)
    yield running
    await stop_backend(running)


async def wait_workers(api: Api, count: int, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while len((await api.ok("GET", "/workers"))["items"]) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} workers registered")
        await asyncio.sleep(0.05)


def node(
    job_id: str, task: str = "value", *children: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A request node with a caller-chosen jobId (so tests can name jobs)."""
    opts = {"jobId": job_id, **extra.pop("opts", {})}
    out: dict[str, Any] = {"name": task, "queueName": extra.pop("queue", "jobQueue"), "opts": opts}
    out.update(extra)
    if children:
        out["children"] = list(children)
    return out
