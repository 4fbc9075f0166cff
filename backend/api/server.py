"""The application ``backend serve`` runs, assembled in one place.

``create_app`` builds the REST API and websocket over a store; a server also
runs the execution layer (dispatcher, consumer, monitor, and an in-process
worker for ``--tasks``) and the schedule runner for the app's lifetime, and
serves their routes.
``backend serve``, the desktop's embedded backend and the tests and
benchmarks that start a whole server all build it here, so none of them can
assemble a server that differs from the one users run.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from backend.api.app import ExtraCtx, create_app
from backend.api.routes.bulk import routes as bulk_routes
from backend.api.routes.execution import execution_ctx
from backend.api.routes.execution import routes as execution_routes
from backend.api.routes.schedules import routes as schedule_routes
from backend.api.scheduler import scheduler_ctx
from backend.clock import now_ms
from backend.retention import retention_ctx
from backend.settings import Settings
from backend.store.store import Store


def create_server_app(
    settings: Settings,
    store: Store,
    *,
    extra_ctx: Sequence[ExtraCtx] = (),
    close_store: bool = False,
) -> web.Application:
    """The API with the execution layer; ``close_store`` as for ``create_app``."""
    return create_app(
        settings,
        store,
        extra_ctx=[
            execution_ctx(settings),
            retention_ctx(settings, now_ms),
            scheduler_ctx(settings),
            *extra_ctx,
        ],
        extra_routes=[execution_routes, bulk_routes, schedule_routes],
        close_store=close_store,
    )
