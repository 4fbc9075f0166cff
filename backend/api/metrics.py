"""Prometheus text exposition (format 0.0.4), and the request-latency histogram.

Written by hand rather than with ``prometheus_client``: that library keeps a
process-wide default registry (a module-level singleton, which two apps in
one process, as in tests, would share), and what ``/metrics`` needs is a few
lines of text. :class:`Family` renders one metric family; the values are
gathered fresh on each scrape by ``routes/metrics.py``, except request
latencies, which :func:`latency_middleware` observes into the application's
:class:`RequestLatency`.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from aiohttp.typedefs import Handler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class Family:
    """One metric family: ``# HELP``, ``# TYPE`` and its samples."""

    name: str
    kind: Kind
    help: str
    samples: list[tuple[str, Mapping[str, str], float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((suffix, labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind.value}"]
        lines += [
            f"{self.name}{suffix}{_labels(labels)} {_number(value)}"
            for suffix, labels, value in self.samples
        ]
        return "\n".join(lines) + "\n"


def render(families: Iterable[Family]) -> str:
    return "".join(family.render() for family in families)


@dataclass
class _Series:
    counts: list[int]
    total: float = 0.0
    count: int = 0


class RequestLatency:
    """Request durations by method, route template and status, as a histogram."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self._series: dict[tuple[str, str, str], _Series] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series([0] * len(self.buckets))
        index = bisect.bisect_left(self.buckets, seconds)
        if index < len(self.buckets):
            series.counts[index] += 1
        series.total += seconds
        series.count += 1

    def family(self) -> Family:
        family = Family(
            "flowdesk_http_request_duration_seconds",
            Kind.HISTOGRAM,
            "HTTP request latency by method, route template and status",
        )
        for (method, route, status), series in sorted(self._series.items()):
            labels = {"method": method, "route": route, "status": status}
            cumulative = 0
            for bound, count in zip(self.buckets, series.counts, strict=True):
                cumulative += count
                family.add(cumulative, "_bucket", **labels, le=_number(bound))
            family.add(series.count, "_bucket", **labels, le="+Inf")
            family.add(series.total, "_sum", **labels)
            family.add(series.count, "_count", **labels)
        return family


REQUEST_LATENCY = web.AppKey("request_latency", RequestLatency)
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
        request.app[REQUEST_LATENCY].observe(
            request.method, _route_of(request), status, time.perf_counter() - start
        )
