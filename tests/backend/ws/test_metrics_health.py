"""``/metrics`` (Prometheus text) and ``/health`` with its separate checks."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from backend.api.metrics import Family, Kind, RequestLatency, render
from tests.backend.ws.wskit import Server, flow_done, flow_tree, start_server, ws_settings
from tests.e2e.kit import fast_settings, wait_workers

SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf)$')


def parse(text: str) -> dict[str, float]:
    """Every sample line, keyed by name{labels}; fails on a line that is not valid."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        match = SAMPLE.match(line)
        assert match, line
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


async def scrape(server: Server) -> dict[str, float]:
    async with server.session.get(
        server.base + "/metrics", headers=server.apis["alice"].headers
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(await response.text())


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
    bucket = 'flowdesk_http_request_duration_seconds_bucket{method="POST",route="/flows",status="201",le="+Inf"}'  # noqa: E501
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


def test_families_render_in_the_text_format() -> None:
    latency = RequestLatency(buckets=(0.1, 1.0))
    latency.observe("GET", "/flows", 200, 0.05)
    latency.observe("GET", "/flows", 200, 0.5)
    latency.observe("GET", "/flows", 200, 5.0)
    gauge = Family("flowdesk_x", Kind.GAUGE, "an example").add(1.5, name='a"b\\c')
    text = render([gauge, latency.family()])
    assert 'flowdesk_x{name="a\\"b\\\\c"} 1.5\n' in text
    samples = parse(text)
    labels = 'method="GET",route="/flows",status="200"'
    assert samples[f'flowdesk_http_request_duration_seconds_bucket{{{labels},le="0.1"}}'] == 1
    assert samples[f'flowdesk_http_request_duration_seconds_bucket{{{labels},le="1"}}'] == 2
    assert samples[f'flowdesk_http_request_duration_seconds_bucket{{{labels},le="+Inf"}}'] == 3
    assert samples[f"flowdesk_http_request_duration_seconds_sum{{{labels}}}"] == 5.55


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
