"""Fixtures for websocket tests: a server that only stores flows, and one that runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backend.ws.wskit import Server, start_server, ws_settings


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(ws_settings(tmp_path))
    yield running
    await running.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Server]:
    """A server with the execution layer and the example tasks in-process (no Redis)."""
    started = await start_server(ws_settings(tmp_path), execution=True)
    yield started
    await started.close()
