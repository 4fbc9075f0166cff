"""create_app's lifecycle hooks: extra services start after the app is built and stop in reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from backend.api.context import SETTINGS, STORE
from backend.settings import Settings
from tests.backend.api.api_helpers import Api


async def test_extra_contexts_run_in_order_and_see_the_app(
    make_api: Callable[..., Awaitable[Api]], settings: Settings
) -> None:
    events: list[str] = []

    async def service(app: web.Application) -> AsyncIterator[None]:
        assert app[SETTINGS] is settings
        events.append(f"service up, store open: {app[STORE].db is not None}")
        yield
        events.append("service down")

    @asynccontextmanager
    async def manager() -> AsyncIterator[None]:
        events.append("manager up")
        yield
        events.append("manager down")

    api = await make_api(settings, extra_ctx=[service, manager()])
    assert events == ["service up, store open: True", "manager up"]
    resp = await api.client.get("/health")
    assert resp.status == 200
    await api.client.close()
    assert events[2:] == ["manager down", "service down"]
