"""``GET /metrics``: Prometheus text for scrapers.

It needs the same bearer token as REST (configure the scraper with
``authorization: {credentials: fd_...}``): job and flow counts span every
user, which is more than an anonymous caller should learn. Everything is
read at scrape time: counts from SQLite, counters from the execution layer
(when the server runs it) and the websocket hub, latencies from the
middleware's histogram.
"""

from __future__ import annotations

from aiohttp import web

from backend.api.context import SETTINGS, STORE
from backend.api.hub import HUB, Hub
from backend.api.metrics import CONTENT_TYPE, REQUEST_LATENCY, Family, Kind, render
from backend.api.routes.execution import EXECUTION
from backend.api.spec import operation
from backend.dispatch.service import Execution
from backend.dispatch.transport import MemoryTransport, RedisTransport
from backend.store.store import Store
from backend.worker.protocol import EVENTS_STREAM

routes = web.RouteTableDef()


async def _store_families(store: Store, queues: tuple[str, ...]) -> list[Family]:
    jobs = Family("flowdesk_jobs", Kind.GAUGE, "Jobs by queue and state")
    for queue, states in (await store.queue_counts(queues)).items():
        for state, count in states.items():
            jobs.add(count, queue=queue, state=state)
    flows = Family("flowdesk_flows", Kind.GAUGE, "Flows by state")
    async with (
        store.db.read() as conn,
        conn.execute("SELECT status, count(*) FROM flows GROUP BY status") as cursor,
    ):
        for status, count in await cursor.fetchall():
            flows.add(count, state=status)
    return [jobs, flows]


async def _backlog(execution: Execution) -> int | None:
    transport = execution.transport
    if isinstance(transport, RedisTransport):
        return int(await transport.redis.xlen(EVENTS_STREAM))
    if isinstance(transport, MemoryTransport):
        return transport.events.qsize()
    return None


async def _execution_families(execution: Execution) -> list[Family]:
    consumer, dispatcher, monitor = execution.consumer, execution.dispatcher, execution.monitor
    finished = Family(
        "flowdesk_jobs_finished_total", Kind.COUNTER, "Jobs that reached a final state"
    )
    for state in ("completed", "failed", "cancelled"):
        finished.add(consumer.finished[state], state=state)
    families = [
        Family("flowdesk_jobs_dispatched_total", Kind.COUNTER, "Jobs sent to workers").add(
            dispatcher.sent
        ),
        finished,
        Family("flowdesk_worker_events_applied_total", Kind.COUNTER, "Worker events applied").add(
            consumer.applied
        ),
        Family(
            "flowdesk_worker_events_stale_total", Kind.COUNTER, "Worker events ignored as stale"
        ).add(consumer.stale),
        Family("flowdesk_jobs_stalled_total", Kind.COUNTER, "Attempts lost to a dead worker").add(
            monitor.stalled
        ),
        Family(
            "flowdesk_lost_messages_resent_total",
            Kind.COUNTER,
            "Sent jobs whose message Redis no longer held, sent again",
        ).add(monitor.lost_resent),
        Family("flowdesk_redis_resets_total", Kind.COUNTER, "Times Redis came back empty").add(
            monitor.redis_resets
        ),
        Family(
            "flowdesk_event_consumer_last_event_timestamp_seconds",
            Kind.GAUGE,
            "Worker time of the newest applied worker event",
        ).add(consumer.last_event_time / 1000),
        Family("flowdesk_workers_live", Kind.GAUGE, "Workers with a recent heartbeat").add(
            len(execution.registry.live)
        ),
    ]
    backlog = await _backlog(execution)
    if backlog is not None:
        families.append(
            Family(
                "flowdesk_event_consumer_lag_events",
                Kind.GAUGE,
                "Worker events published but not yet applied and acknowledged",
            ).add(backlog)
        )
    return families


def _hub_families(hub: Hub) -> list[Family]:
    stats = hub.stats
    lag = max((hub.head - client.cursor for client in hub.clients), default=0)
    resyncs = Family("flowdesk_ws_resyncs_total", Kind.COUNTER, "Resync messages sent, by reason")
    for reason, count in sorted(stats.resyncs.items()):
        resyncs.add(count, reason=reason)
    closes = Family(
        "flowdesk_ws_closed_total", Kind.COUNTER, "Websockets closed by the server, by reason"
    )
    for reason, count in sorted(stats.closes.items()):
        closes.add(count, reason=reason)
    reads = Family(
        "flowdesk_ws_reads_total",
        Kind.COUNTER,
        "Websocket reads of the log, by source (memory buffer or SQLite)",
    )
    reads.add(stats.buffer_reads, source="memory").add(stats.log_reads, source="sqlite")
    return [
        Family("flowdesk_ws_clients", Kind.GAUGE, "Open websocket connections").add(
            len(hub.clients)
        ),
        Family("flowdesk_ws_connections_total", Kind.COUNTER, "Websockets opened").add(
            stats.connections
        ),
        Family("flowdesk_ws_events_sent_total", Kind.COUNTER, "Events sent to websockets").add(
            stats.events_sent
        ),
        Family("flowdesk_ws_frames_sent_total", Kind.COUNTER, "Event frames sent").add(
            stats.frames_sent
        ),
        resyncs,
        closes,
        Family(
            "flowdesk_ws_max_lag_events",
            Kind.GAUGE,
            "How far the furthest-behind websocket is from the log head, in seq numbers",
        ).add(lag),
        Family("flowdesk_event_log_head_seq", Kind.GAUGE, "Newest event-log seq").add(hub.head),
        Family("flowdesk_events_pruned_total", Kind.COUNTER, "Event-log entries pruned").add(
            stats.pruned
        ),
        Family(
            "flowdesk_ws_buffer_events", Kind.GAUGE, "Recent events held in memory for delivery"
        ).add(len(hub.buffer)),
        Family(
            "flowdesk_ws_buffer_bytes", Kind.GAUGE, "Payload bytes of the in-memory event buffer"
        ).add(hub.buffer.bytes),
        reads,
    ]


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
    app = request.app
    families = await _store_families(app[STORE], app[SETTINGS].allowed_queues)
    execution = app.get(EXECUTION)
    if execution is not None:
        families += await _execution_families(execution)
    hub = app.get(HUB)
    if hub is not None:
        families += _hub_families(hub)
    families.append(app[REQUEST_LATENCY].family())
    response = web.Response(text=render(families))
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
