"""One module per REST resource; each exposes ``routes``, a ``web.RouteTableDef``.

``ALL`` lists the tables ``create_app`` registers. A new resource (the
execution layer's cancel/retry/workers routes) adds its module here, or
passes its table to ``create_app(extra_routes=...)``.
"""

from __future__ import annotations

from aiohttp import web

from backend.api.routes import docs, flows, health, jobs, metrics, queues, stats, ws

ALL: tuple[web.RouteTableDef, ...] = (
    flows.routes,
    jobs.routes,
    queues.routes,
    stats.routes,
    health.routes,
    docs.routes,
    ws.routes,
    metrics.routes,
)
