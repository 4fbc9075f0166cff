"""``/metrics`` (Prometheus text) and ``/health`` with its separate checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from backend.api.metrics import AppMetrics
from tests.backend.ws.wskit import Server, flow_done, flow_tree, start_server, ws_settings
from tests.e2e.kit import fast_settings, wait_workers

# Every family /metrics exposes while the server runs execution, by (name, type).
FAMILIES = {
    ("flowdesk_jobs", "gauge"), ("flowdesk_flows", "gauge"),
    ("flowdesk_jobs_dispatched", "counter"), ("flowdesk_jobs_finished", "counter"),
    ("flowdesk_worker_events_applied", "counter"), ("flowdesk_worker_events_stale", "counter"),
    ("flowdesk_jobs_stalled", "counter"), ("flowdesk_lost_messages_resent", "counter"),
    ("flowdesk_redis_resets", "counter"),
    ("flowdesk_event_consumer_last_event_timestamp_seconds", "gauge"),
    ("flowdesk_workers_live", "gauge"), ("flowdesk_event_consumer_lag_events", "gauge"),
    ("flowdesk_ws_clients", "gauge"), ("flowdesk_ws_connections", "counter"),
    ("flowdesk_ws_events_sent", "counter"), ("flowdesk_ws_frames_sent", "counter"),
    ("flowdesk_ws_resyncs", "counter"), ("flowdesk_ws_closed", "counter"),
    ("flowdesk_ws_max_lag_events", "gauge"), ("flowdesk_event_log_head_seq", "gauge"),
    ("flowdesk_events_pruned", "counter"), ("flowdesk_ws_buffer_events", "gauge"),
    ("flowdesk_ws_buffer_bytes", "gauge"), ("flowdesk_ws_reads", "counter"),
    ("flowdesk_http_request_duration_seconds", "histogram"),
}  # fmt: skip


def parse(text: str) -> tuple[set[tuple[str, str]], dict[str, float]]:
    """Families (name, type), and every sample keyed by name{sorted labels}."""
    families: set[tuple[str, str]] = set()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        families.add((family.name, family.type))
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return families, samples


async def scrape(server: Server) -> dict[str, float]:
    async with server.session.get(
        server.base + "/metrics", headers=server.apis["alice"].headers
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        families, samples = parse(await response.text())
        assert families >= FAMILIES, FAMILIES - families
        return samples


async def test_metrics_need_a_token_and_report_the_run(running: Server) -> None:
    async with running.session.get(running.base + "/metrics") as response:
        assert response.status == 401
    client = await running.connect()
    flow = await running.apis["alice"].create(flow_tree("m", leaves=3))
    await client.until(flow_done(flow["id"]))
    samples = await scrape(running)

    assert samples['flowdesk_jobs{queue="jobQueue",state="completed"}'] == 4
    assert samples['flowdesk_jobs{queue="webhooks",state="active"}'] == 0
    assert samples['flowdesk_flows{state="completed"}'] == 1
    assert samples["flowdesk_jobs_dispatched_total"] == 4
    assert samples['flowdesk_jobs_finished_total{state="completed"}'] == 4
    assert samples["flowdesk_worker_events_applied_total"] >= 4
    assert samples["flowdesk_ws_clients"] == 1
    assert samples["flowdesk_ws_events_sent_total"] == len(client.events)
    assert samples["flowdesk_event_log_head_seq"] == client.seqs[-1]
    assert samples["flowdesk_ws_buffer_events"] >= len(client.events)
    assert samples["flowdesk_ws_buffer_bytes"] > 0
    assert samples['flowdesk_ws_reads_total{source="memory"}'] >= 1
    assert samples["flowdesk_event_consumer_lag_events"] == 0
    assert samples["flowdesk_workers_live"] == 1
    created = (
        'flowdesk_http_request_duration_seconds_count{method="POST",route="/flows",status="201"}'
    )
    assert samples[created] == 1
    bucket = 'flowdesk_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/flows",status="201"}'  # noqa: E501
    assert samples[bucket] == 1

    await client.close()
    async with running.session.get(
        running.base + "/metrics?x", headers={"Authorization": "Bearer fd_bad"}
    ) as response:
        assert response.status == 401
    samples = await scrape(running)
    assert samples["flowdesk_ws_clients"] == 0
    assert (
        samples[
            'flowdesk_http_request_duration_seconds_count{method="GET",route="/metrics",status="401"}'
        ]
        == 2
    )


async def test_latencies_are_a_histogram_in_the_text_format() -> None:
    metrics = AppMetrics()
    for seconds in (0.0005, 0.3, 50.0):
        metrics.latency.labels("GET", "/flows", "200").observe(seconds)
    families, samples = parse((await metrics.scrape()).decode())
    assert ("flowdesk_http_request_duration_seconds", "histogram") in families
    labels = 'method="GET",route="/flows",status="200"'
    bucket = "flowdesk_http_request_duration_seconds_bucket{{le={}," + labels + "}}"
    assert samples[bucket.format('"0.001"')] == 1
    assert samples[bucket.format('"0.5"')] == 2
    assert samples[bucket.format('"+Inf"')] == 3
    assert samples[f"flowdesk_http_request_duration_seconds_sum{{{labels}}}"] == 50.3005


async def test_health_reports_sqlite_redis_and_workers_separately(
    redis_url: str, tmp_path: Path
) -> None:
    settings = replace(
        fast_settings(redis_url, tmp_path / "f.db"), tasks=("backend.examples.tasks",)
    )
    server = await start_server(settings, execution=True)
    try:
        await wait_workers(server.apis["alice"], 1)
        body = await server.apis["alice"].ok("GET", "/health")
        assert body["status"] == "ok"
        assert body["checks"]["sqlite"]["ok"] is True
        assert body["checks"]["redis"] == {"ok": True, "mode": "redis"}
        assert body["checks"]["workers"] == {"ok": True, "live": 1}
    finally:
        await server.close()


async def test_health_without_redis_or_execution(tmp_path: Path, server: Server) -> None:
    body = await server.apis["alice"].ok("GET", "/health")
    assert set(body["checks"]) == {"sqlite"}
    memory = await start_server(ws_settings(tmp_path / "m"), execution=True)
    try:
        body = await memory.apis["alice"].ok("GET", "/health")
        assert body["checks"]["redis"] == {"ok": True, "mode": "in-memory"}
        assert body["checks"]["workers"]["live"] == 1
    finally:
        await memory.close()
