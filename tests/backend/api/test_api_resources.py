"""GET /jobs/{jobId}, /queues and /health."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from backend.api.context import HEALTH_CHECKS
from backend.settings import Settings
from tests.backend.api.api_helpers import Api, node


async def test_job_with_logs(api: Api) -> None:
    await api.post_flow(node("root", data={"n": 1}, opts={"jobId": "the-root"}))
    async with api.store.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO job_logs (job_id, attempt, message, created_at) VALUES (?, ?, ?, ?)",
            [
                ("the-root", 1, "starting", 1_700_000_000_000),
                ("the-root", 2, "again", 1_700_000_001_000),
            ],
        )
    resp = await api.client.get("/jobs/the-root", headers=api.auth())
    assert resp.status == 200
    job = await resp.json()
    assert job["jobId"] == "the-root"
    assert job["data"] == {"n": 1}
    assert [(entry["attempt"], entry["message"]) for entry in job["logs"]] == [
        (1, "starting"),
        (2, "again"),
    ]
    assert job["logs"][0]["createdAt"].startswith("2023-11-14T22:13:20")


async def test_job_of_another_user_is_404(api: Api) -> None:
    await api.post_flow(node(opts={"jobId": "mine"}))
    for job_id in ("mine", "missing"):
        resp = await api.client.get(f"/jobs/{job_id}", headers=api.auth(api.bob))
        assert resp.status == 404


async def test_queues_have_every_state(api: Api) -> None:
    await api.post_flow(node(children=[node(queue="webhooks"), node(queue="webhooks")]))
    resp = await api.client.get("/queues", headers=api.auth())
    assert resp.status == 200
    items = (await resp.json())["items"]
    assert [item["name"] for item in items] == ["jobQueue", "webhooks", "schedQueue", "flowQueue"]
    by_name: dict[str, Any] = {item["name"]: item["counts"] for item in items}
    assert by_name["webhooks"]["waiting"] == 2
    assert by_name["jobQueue"]["waiting-children"] == 1
    assert set(by_name["flowQueue"]) == {
        "waiting-children",
        "waiting",
        "delayed",
        "active",
        "completed",
        "failed",
        "cancelled",
    }


async def test_queues_follow_settings(
    make_api: Callable[..., Awaitable[Api]], settings: Settings
) -> None:
    api = await make_api(dataclasses.replace(settings, allowed_queues=("only",)))
    resp = await api.client.get("/queues", headers=api.auth())
    assert [item["name"] for item in (await resp.json())["items"]] == ["only"]


async def test_health_reports_sqlite(api: Api) -> None:
    resp = await api.client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["checks"]["sqlite"]["ok"] is True
    assert body["checks"]["sqlite"]["schemaVersion"] >= 1
    assert body["version"]


async def test_health_degrades_when_a_check_fails(api: Api) -> None:
    async def broken() -> dict[str, Any]:
        raise ConnectionError("redis is down")

    api.app[HEALTH_CHECKS]["redis"] = broken
    resp = await api.client.get("/health")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError: redis is down"}
    assert body["checks"]["sqlite"]["ok"] is True
