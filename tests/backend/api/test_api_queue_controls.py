"""Queue controls over REST: pause, resume, limits; persisted, evented, validated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backend.api.api_helpers import Api


async def _queues(api: Api) -> dict[str, Any]:
    resp = await api.client.get("/queues", headers=api.auth())
    assert resp.status == 200
    return {item["name"]: item for item in (await resp.json())["items"]}


async def _events(api: Api, kind: str) -> list[tuple[str, str, Any]]:
    async with (
        api.store.db.read() as conn,
        conn.execute(
            "SELECT user_id, flow_id, payload FROM events WHERE type = ? ORDER BY seq", (kind,)
        ) as cursor,
    ):
        return [(row[0], row[1], row[2]) async for row in cursor]


async def test_queues_start_without_controls(api: Api) -> None:
    webhooks = (await _queues(api))["webhooks"]
    assert webhooks["paused"] is False
    assert webhooks["concurrency"] is None
    assert webhooks["rateLimit"] is None
    assert webhooks["keyConcurrency"] is None


async def test_pause_and_resume_are_stored_and_evented_for_every_user(api: Api) -> None:
    resp = await api.client.post("/queues/webhooks/pause", headers=api.auth())
    assert resp.status == 200
    assert (await resp.json())["paused"] is True
    assert (await _queues(api))["webhooks"]["paused"] is True
    assert (await _queues(api))["jobQueue"]["paused"] is False
    events = await _events(api, "queue:updated")
    assert len(events) == 2  # alice and bob
    assert {flow for _user, flow, _payload in events} == {""}

    resp = await api.client.post("/queues/webhooks/resume", headers=api.auth(api.bob))
    assert resp.status == 200
    assert (await _queues(api))["webhooks"]["paused"] is False
    assert len(await _events(api, "queue:updated")) == 4


async def test_patch_sets_keeps_and_removes_limits(api: Api) -> None:
    resp = await api.client.patch(
        "/queues/jobQueue",
        json={"concurrency": 2, "rateLimit": {"max": 5, "duration": 1000}, "keyConcurrency": 1},
        headers=api.auth(),
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["concurrency"], body["rateLimit"], body["keyConcurrency"]) == (
        2,
        {"max": 5, "duration": 1000},
        1,
    )
    # a field left out keeps its value; null removes the limit
    resp = await api.client.patch("/queues/jobQueue", json={"rateLimit": None}, headers=api.auth())
    assert resp.status == 200
    queue = (await _queues(api))["jobQueue"]
    assert (queue["concurrency"], queue["rateLimit"], queue["keyConcurrency"]) == (2, None, 1)
    # pausing keeps the limits
    await api.client.post("/queues/jobQueue/pause", headers=api.auth())
    queue = (await _queues(api))["jobQueue"]
    assert (queue["paused"], queue["concurrency"]) == (True, 2)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": "2"}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"rateLimit": {"max": 5}}, "rateLimit.duration"),
        ({"rateLimit": {"max": 0, "duration": 10}}, "rateLimit.max"),
        ({"rateLimit": {"max": 1, "duration": 10, "burst": 2}}, "rateLimit.burst"),
        ({"keyConcurrency": -1}, "keyConcurrency"),
        ({"paused": True}, "paused"),
    ],
)
async def test_invalid_limits_are_422_naming_the_field(
    api: Api, body: dict[str, Any], path: str
) -> None:
    resp = await api.client.patch("/queues/jobQueue", json=body, headers=api.auth())
    assert resp.status == 422
    assert (await resp.json())["error"]["path"] == path


async def test_unknown_queue_is_404(api: Api) -> None:
    for method, path in (
        ("POST", "/queues/nope/pause"),
        ("POST", "/queues/nope/resume"),
        ("PATCH", "/queues/nope"),
    ):
        resp = await api.client.request(method, path, json={"concurrency": 1}, headers=api.auth())
        assert resp.status == 404, (method, path)
    assert await _events(api, "queue:updated") == []


async def test_controls_need_a_token(api: Api) -> None:
    resp = await api.client.post("/queues/jobQueue/pause")
    assert resp.status == 401


async def test_concurrency_key_is_a_job_option(api: Api) -> None:
    flow = await api.post_flow(
        {"name": "t", "queueName": "jobQueue", "opts": {"concurrencyKey": "cust-1"}}
    )
    resp = await api.client.get(f"/flows/{flow['id']}/jobs", headers=api.auth())
    [job] = (await resp.json())["items"]
    assert job["opts"]["concurrencyKey"] == "cust-1"
    assert job["heldBy"] is None
    async with (
        api.store.db.read() as conn,
        conn.execute("SELECT concurrency_key FROM flow_jobs") as cursor,
    ):
        assert [row[0] async for row in cursor] == ["cust-1"]
    resp = await api.client.post(
        "/flows",
        json={"name": "t", "queueName": "jobQueue", "opts": {"concurrencyKey": ""}},
        headers=api.auth(),
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["path"] == "opts.concurrencyKey"
