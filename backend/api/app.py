"""Build the aiohttp application: middlewares, routes, state, lifecycle.

``create_app`` is the only way to get an application, and it takes what it
needs as arguments (settings, an open store), so tests and the desktop's
embedded mode build one exactly like ``backend serve`` does. Services that
live as long as the server (the execution layer's dispatcher and consumer)
join through ``extra_ctx``: aiohttp cleanup contexts, or async context
managers, started in order after the store is ready and stopped in reverse.
The websocket hub (``hub.py``) runs for every app, before those services;
its connections are closed on shutdown, before the cleanup contexts stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from aiohttp import web

from backend.api.auth import auth_middleware
from backend.api.context import (
    HEALTH_CHECKS,
    OPENAPI_DOC,
    SETTINGS,
    SHUTDOWN,
    STORE,
    package_version,
)
from backend.api.errors import error_middleware
from backend.api.hub import HUB, Hub
from backend.api.metrics import APP_METRICS, AppMetrics, latency_middleware
from backend.api.openapi import build_document
from backend.api.query import query_middleware
from backend.api.routes import ALL
from backend.api.routes.metrics import add_collectors
from backend.settings import Settings
from backend.shutdown import ShutdownBudget
from backend.store.store import Store

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]
ExtraCtx = CleanupCtx | AbstractAsyncContextManager[object]


def _as_cleanup_ctx(item: ExtraCtx) -> CleanupCtx:
    if not isinstance(item, AbstractAsyncContextManager):
        return item
    manager = item

    async def run(_app: web.Application) -> AsyncIterator[None]:
        async with manager:
            yield

    return run


async def _publish_openapi(app: web.Application) -> None:
    # on_startup runs before the app is frozen and after every route is added
    app[OPENAPI_DOC] = build_document(app, version=package_version())


def request_line_limit(settings: Settings) -> int:
    """Bytes the HTTP request line may take (aiohttp's ``max_line_size``).

    The document lets ``GET /flows?q=`` carry ``max_string_length`` characters,
    each up to 12 bytes once UTF-8 and percent-encoded; aiohttp's default of
    8190 bytes would refuse such a valid request before the app sees it.
    """
    return max(8190, 12 * settings.max_string_length + 8192)


def create_app(
    settings: Settings,
    store: Store,
    *,
    extra_ctx: Sequence[ExtraCtx] = (),
    extra_routes: Sequence[web.RouteTableDef] = (),
    close_store: bool = False,
) -> web.Application:
    """The REST application over an open ``store``.

    ``close_store=True`` hands the store's lifetime to the app (``backend
    serve``); tests and embedders that opened the store close it themselves.
    """
    app = web.Application(
        middlewares=[latency_middleware, error_middleware, auth_middleware, query_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[STORE] = store
    app[HEALTH_CHECKS] = {}
    app[APP_METRICS] = AppMetrics()
    hub = app[HUB] = Hub(settings, store)
    add_collectors(app)
    budget = app[SHUTDOWN] = ShutdownBudget(settings.shutdown_timeout)
    for table in (*ALL, *extra_routes):
        app.router.add_routes(table)
    app.on_startup.append(_publish_openapi)

    async def start_shutdown(_app: web.Application) -> None:
        budget.start()  # the first on_shutdown hook: every later step shares this deadline

    app.on_shutdown.append(start_shutdown)
    if close_store:

        async def store_lifetime(_app: web.Application) -> AsyncIterator[None]:
            yield
            await budget.step(store.close(), what="store")

        app.cleanup_ctx.append(store_lifetime)
    app.cleanup_ctx.append(hub.cleanup_ctx())

    async def close_websockets(_app: web.Application) -> None:
        # a client that never answers the close frame must not hold shutdown
        await budget.step(hub.close_clients(), what="websockets")

    app.on_shutdown.append(close_websockets)
    app.cleanup_ctx.extend(_as_cleanup_ctx(item) for item in extra_ctx)
    return app
