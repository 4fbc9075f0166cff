"""Prometheus metrics of one application, through ``prometheus_client``.

Each app owns a ``CollectorRegistry``: prometheus_client's default registry
is process-wide, and two apps in one process (tests, an embedder) must not
share counters. Request latencies are a library ``Histogram`` observed by
:func:`latency_middleware`; everything else comes from custom collectors
that read their source at scrape time (see ``routes/metrics.py``).

prometheus_client collects synchronously, while some sources need I/O (SQLite
counts, the transport's backlog): such a collector is a
:class:`ScrapeCollector`, whose ``refresh`` :meth:`AppMetrics.scrape` awaits
just before it renders the registry.
"""

from __future__ import annotations

import time
from abc import abstractmethod

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what generate_latest writes

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ScrapeCollector(Collector):
    """A collector whose values need I/O: ``refresh`` reads them, ``collect`` reports."""

    @abstractmethod
    async def refresh(self) -> None: ...


class AppMetrics:
    """One app's registry: the latency histogram and the collectors added to it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "flowdesk_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._refreshed: list[ScrapeCollector] = []

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)
        if isinstance(collector, ScrapeCollector):
            self._refreshed.append(collector)

    async def scrape(self) -> bytes:
        """The text exposition, every collector read now."""
        for collector in self._refreshed:
            await collector.refresh()
        return generate_latest(self.registry)


APP_METRICS = web.AppKey("app_metrics", AppMetrics)
_UNTIMED = frozenset({"/ws"})  # a websocket's "request" lasts as long as the connection


def _route_of(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _UNTIMED:
        return await handler(request)
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        labels = request.app[APP_METRICS].latency.labels(
            request.method, _route_of(request), str(status)
        )
        labels.observe(time.perf_counter() - start)
