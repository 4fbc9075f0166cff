"""The real backend for the desktop tests: ``create_server_app`` on a loopback port.

The desktop's client, controller and window are tested against the very
application ``backend serve`` runs (REST, ``/ws``, the execution layer with
the example tasks echo, sleep, sum and fail in an in-process worker), over a
SQLite file in the test's directory, on taskiq's in-memory broker or on the
private Redis of ``redis_url``. A hand-written stand-in once copied the
client's mistakes (``?search=`` where the server reads another name); the
real server cannot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from backend.api.server import create_server_app
from backend.schemas import FlowStatus
from backend.settings import Settings
from backend.store.store import Store
from desktop.client.rest import RestClient

EXAMPLE_TASKS = ("backend.examples.tasks",)


def backend_settings(tmp_path: Path, redis_url: str | None = None, **overrides: Any) -> Settings:
    base = replace(Settings(), db=tmp_path / "flowdesk.db", heartbeat_interval=0.2, **overrides)
    if redis_url is None:
        return replace(base, in_memory_broker=True)
    return replace(base, redis_url=redis_url)


async def serve(settings: Settings, port: int = 0) -> tuple[str, web.AppRunner]:
    """Start the application ``backend serve`` runs (in-process worker) on ``port``."""
    settings = replace(settings, tasks=EXAMPLE_TASKS)
    store = await Store.open(settings.db)
    app = create_server_app(settings, store, close_store=True)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner


async def operator_token(settings: Settings, name: str = "ops") -> str:
    store = await Store.open(settings.db)
    try:
        _user, token = await store.create_user(name)
    finally:
        await store.close()
    return token


@dataclass
class RealServer:
    url: str
    token: str
    settings: Settings
    runner: web.AppRunner


@asynccontextmanager
async def real_server(
    tmp_path: Path, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[RealServer]:
    """The real application with an operator and their token, stopped on exit."""
    await asyncio.to_thread(tmp_path.mkdir, parents=True, exist_ok=True)
    settings = backend_settings(tmp_path, redis_url, **overrides)
    token = await operator_token(settings)
    url, runner = await serve(settings)
    try:
        yield RealServer(url, token, settings, runner)
    finally:
        await runner.cleanup()


async def wait_finished(api: RestClient, flow_id: str, wait: float = 20.0) -> FlowStatus:
    """Poll REST until the flow leaves ``active``; its final status."""
    async with asyncio.timeout(wait):
        while True:
            status = (await api.get_flow(flow_id)).status
            if status is not FlowStatus.ACTIVE:
                return status
            await asyncio.sleep(0.05)


async def wait_stuck(api: RestClient, flow_id: str, wait: float = 20.0) -> None:
    async with asyncio.timeout(wait):
        while (await api.get_flow(flow_id)).stuck is None:
            await asyncio.sleep(0.05)
