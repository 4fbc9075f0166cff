"""``GET /metrics``: Prometheus text for scrapers.

It needs the same bearer token as REST (configure the scraper with
``authorization: {credentials: fd_...}``): job and flow counts span every
user, which is more than an anonymous caller should learn. Everything is
read at scrape time by the collectors below: counts from the store, counters
from the execution layer (when the server runs it) and its transport's event
backlog, the websocket hub's statistics; latencies come from the
middleware's histogram (``backend/api/metrics.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from backend.api.context import SETTINGS, STORE
from backend.api.hub import HUB
from backend.api.metrics import APP_METRICS, CONTENT_TYPE, ScrapeCollector
from backend.api.routes.execution import EXECUTION
from backend.api.spec import operation
from backend.store.store import Store

routes = web.RouteTableDef()


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


class StoreCollector(ScrapeCollector):
    """Jobs by queue and state, flows by state, as the store counts them."""

    def __init__(self, store: Store, queues: tuple[str, ...]) -> None:
        self.store = store
        self.queues = queues
        self._jobs: dict[str, dict[str, int]] = {}
        self._flows: dict[str, int] = {}

    async def refresh(self) -> None:
        self._jobs = await self.store.queue_counts(self.queues)
        self._flows = await self.store.flow_counts()

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "flowdesk_jobs", "Jobs by queue and state", labels=("queue", "state")
        )
        for queue, states in self._jobs.items():
            for state, count in states.items():
                jobs.add_metric((queue, state), count)
        flows = GaugeMetricFamily("flowdesk_flows", "Flows by state", labels=("state",))
        for state, count in self._flows.items():
            flows.add_metric((state,), count)
        yield from (jobs, flows)


class ExecutionCollector(ScrapeCollector):
    """Dispatch, consumer and monitor counters; nothing when the app runs no execution."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._backlog: int | None = None

    async def refresh(self) -> None:
        execution = self.app.get(EXECUTION)
        self._backlog = None if execution is None else await execution.transport.event_backlog()

    def collect(self) -> Iterator[Metric]:
        execution = self.app.get(EXECUTION)
        if execution is None:
            return
        consumer, dispatcher, monitor = execution.consumer, execution.dispatcher, execution.monitor
        yield _counter("flowdesk_jobs_dispatched_total", "Jobs sent to workers", dispatcher.sent)
        finished = CounterMetricFamily(
            "flowdesk_jobs_finished_total", "Jobs that reached a final state", labels=("state",)
        )
        for state in ("completed", "failed", "cancelled"):
            finished.add_metric((state,), consumer.finished[state])
        yield finished
        yield _counter(
            "flowdesk_worker_events_applied_total", "Worker events applied", consumer.applied
        )
        yield _counter(
            "flowdesk_worker_events_stale_total", "Worker events ignored as stale", consumer.stale
        )
        yield _counter(
            "flowdesk_jobs_stalled_total", "Attempts lost to a dead worker", monitor.stalled
        )
        yield _counter(
            "flowdesk_lost_messages_resent_total",
            "Sent jobs whose message Redis no longer held, sent again",
            monitor.lost_resent,
        )
        yield _counter(
            "flowdesk_redis_resets_total", "Times Redis came back empty", monitor.redis_resets
        )
        yield _gauge(
            "flowdesk_event_consumer_last_event_timestamp_seconds",
            "Worker time of the newest applied worker event",
            consumer.last_event_time / 1000,
        )
        yield _gauge(
            "flowdesk_workers_live", "Workers with a recent heartbeat", len(execution.registry.live)
        )
        if self._backlog is not None:
            yield _gauge(
                "flowdesk_event_consumer_lag_events",
                "Worker events published but not yet applied and acknowledged",
                self._backlog,
            )


class HubCollector:
    """The websocket hub's clients, deliveries, resyncs, closes and buffer."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        hub = self.app.get(HUB)
        if hub is None:
            return
        stats = hub.stats
        lag = max((hub.head - client.cursor for client in hub.clients), default=0)
        yield _gauge("flowdesk_ws_clients", "Open websocket connections", len(hub.clients))
        yield _counter("flowdesk_ws_connections_total", "Websockets opened", stats.connections)
        yield _counter(
            "flowdesk_ws_events_sent_total", "Events sent to websockets", stats.events_sent
        )
        yield _counter("flowdesk_ws_frames_sent_total", "Event frames sent", stats.frames_sent)
        resyncs = CounterMetricFamily(
            "flowdesk_ws_resyncs_total", "Resync messages sent, by reason", labels=("reason",)
        )
        for reason, count in sorted(stats.resyncs.items()):
            resyncs.add_metric((reason,), count)
        yield resyncs
        closes = CounterMetricFamily(
            "flowdesk_ws_closed_total",
            "Websockets closed by the server, by reason",
            labels=("reason",),
        )
        for reason, count in sorted(stats.closes.items()):
            closes.add_metric((reason,), count)
        yield closes
        yield _gauge(
            "flowdesk_ws_max_lag_events",
            "How far the furthest-behind websocket is from the log head, in seq numbers",
            lag,
        )
        yield _gauge("flowdesk_event_log_head_seq", "Newest event-log seq", hub.head)
        yield _counter("flowdesk_events_pruned_total", "Event-log entries pruned", stats.pruned)
        yield _gauge(
            "flowdesk_ws_buffer_events",
            "Recent events held in memory for delivery",
            len(hub.buffer),
        )
        yield _gauge(
            "flowdesk_ws_buffer_bytes",
            "Payload bytes of the in-memory event buffer",
            hub.buffer.bytes,
        )
        reads = CounterMetricFamily(
            "flowdesk_ws_reads_total",
            "Websocket reads of the log, by source (memory buffer or SQLite)",
            labels=("source",),
        )
        reads.add_metric(("memory",), stats.buffer_reads)
        reads.add_metric(("sqlite",), stats.log_reads)
        yield reads


def add_collectors(app: web.Application) -> None:
    """Register the collectors ``/metrics`` reads on the app's registry."""
    metrics = app[APP_METRICS]
    metrics.add(StoreCollector(app[STORE], app[SETTINGS].allowed_queues))
    metrics.add(ExecutionCollector(app))
    metrics.add(HubCollector(app))


@routes.get("/metrics")
@operation(
    "Prometheus metrics",
    tag="meta",
    responses={200: None},
    media_type="text/plain",
    description=(
        "Prometheus text format 0.0.4: jobs by queue and state, flows by state, dispatch and "
        "completion counters, event-consumer backlog, websocket clients, resyncs and closes, "
        "request latencies. Needs the bearer token like every other non-public route."
    ),
)
async def metrics(request: web.Request) -> web.Response:
    body = await request.app[APP_METRICS].scrape()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
