"""``POST /flows/bulk`` against a real backend, real workers and Redis.

Retry, cancel and delete by ids and by filter, each flow's outcome the one
its single route gives, dry runs that change nothing, and the cap. The cap
and the chunk are small here so that a few flows already cross them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.settings import Settings
from tests.e2e.kit import Backend, Workers, fast_settings, node


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return fast_settings(redis_url, tmp_path / "flowdesk.db", bulk_max_flows=4, bulk_chunk=2)


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {result["id"]: result["outcome"] for result in answer["results"]}


async def failing(backend: Backend, name: str, batch: str) -> str:
    flow = await backend.api.create({**node(name, "boom"), "metadata": {"batch": batch}})
    await backend.api.wait_flow(flow["id"])
    return str(flow["id"])


async def test_retry_by_filter_and_by_ids(backend: Backend, workers: Workers) -> None:
    workers.start()
    api = backend.api
    failed = [await failing(backend, f"f{i}", "nightly") for i in range(3)]
    other = await failing(backend, "other", "weekly")
    done = await api.create({**node("done", "value"), "metadata": {"batch": "nightly"}})
    await api.wait_flow(done["id"])
    selection = {"filter": {"meta": {"batch": "nightly"}, "status": ["failed"]}}

    dry = await api.ok("POST", "/flows/bulk", {"action": "retry", **selection, "dryRun": True})
    assert dry["dryRun"] is True
    assert dry["matched"] == 3
    assert dry["ids"] == failed[::-1]  # newest first, as GET /flows lists them
    assert dry["results"] == []
    assert (await api.ok("GET", f"/flows/{failed[0]}"))["counts"]["failed"] == 1  # untouched

    answer = await api.ok("POST", "/flows/bulk", {"action": "retry", **selection})
    assert outcomes(answer) == dict.fromkeys(failed, "ok")
    assert answer["ok"] == 3
    for flow_id in failed:  # each ran again (boom fails again): two attempts made
        await api.wait_flow(flow_id, done=lambda f: f["status"] == "failed")
        assert await api.jobs(flow_id)  # the flow is still there
    attempts = {
        flow_id: next(iter((await api.jobs(flow_id)).values()))["attemptsMade"]
        for flow_id in failed
    }
    assert attempts == dict.fromkeys(failed, 2)
    assert (await api.ok("GET", f"/flows/{other}"))["status"] == "failed"  # not selected

    by_ids = await api.ok(
        "POST", "/flows/bulk", {"action": "retry", "ids": [other, done["id"], "nope", other]}
    )
    assert outcomes(by_ids) == {other: "ok", done["id"]: "invalid_state", "nope": "flow_not_found"}
    assert by_ids["matched"] == 3  # a repeated id counts once
    assert by_ids["ok"] == 1
    message = {r["id"]: r["message"] for r in by_ids["results"]}
    status, single = await api.call("POST", f"/flows/{done['id']}/retry")
    assert (status, single["error"]["message"]) == (409, message[done["id"]])


async def test_cancel_and_delete_give_each_flow_its_single_route_outcome(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    api = backend.api
    slow = [
        await api.create({**node(f"s{i}", "slow", data={"seconds": 60}), "metadata": {"k": "s"}})
        for i in range(3)
    ]
    ids = [flow["id"] for flow in slow]
    for flow_id in ids:
        await api.wait_flow(flow_id, done=lambda f: f["counts"]["active"] == 1)

    status, refused = await api.call("POST", "/flows/bulk", {"action": "delete", "ids": ids})
    assert status == 200
    assert outcomes(refused) == dict.fromkeys(ids, "flow_active")  # as DELETE /flows/{id}: 409
    assert refused["ok"] == 0

    cancelled = await api.ok("POST", "/flows/bulk", {"action": "cancel", "ids": ids[:2]})
    assert outcomes(cancelled) == dict.fromkeys(ids[:2], "ok")
    for flow_id in ids[:2]:
        flow = await api.wait_flow(flow_id, done=lambda f: f["counts"]["active"] == 0)
        assert flow["status"] == "cancelled"
    again = await api.ok("POST", "/flows/bulk", {"action": "cancel", "ids": ids[:2]})
    assert outcomes(again) == dict.fromkeys(ids[:2], "invalid_state")

    deleted = await api.ok(
        "POST", "/flows/bulk", {"action": "delete", "filter": {"meta": {"k": "s"}}}
    )
    assert outcomes(deleted) == {ids[2]: "flow_active", ids[1]: "ok", ids[0]: "ok"}
    for flow_id in ids[:2]:
        status, _ = await api.call("GET", f"/flows/{flow_id}")
        assert status == 404
    async with (
        backend.store.db.read() as conn,
        conn.execute(
            "SELECT flow_id FROM events WHERE type = 'flow:deleted' ORDER BY seq"
        ) as cursor,
    ):
        assert [row[0] for row in await cursor.fetchall()] == [ids[1], ids[0]]
    by_filter = {"action": "cancel", "filter": {"meta": {"k": "s"}, "status": ["active"]}}
    dry = await api.ok("POST", "/flows/bulk", {**by_filter, "dryRun": True})
    assert (dry["matched"], dry["ids"]) == (1, [ids[2]])
    assert outcomes(await api.ok("POST", "/flows/bulk", by_filter)) == {ids[2]: "ok"}
    flow = await api.wait_flow(ids[2], done=lambda f: f["counts"]["active"] == 0)
    assert flow["status"] == "cancelled"


async def test_the_cap_and_bad_requests(backend: Backend) -> None:
    api = backend.api
    made = [(await api.create({**node(f"c{i}", "value"), "metadata": {"cap": "x"}}))["id"]
            for i in range(5)]  # fmt: skip
    status, body = await api.call("POST", "/flows/bulk", {"action": "delete", "ids": made})
    assert (status, body["error"]["code"], body["error"]["path"]) == (422, "too_many_flows", "ids")
    over = {"action": "delete", "filter": {"meta": {"cap": "x"}}}
    status, body = await api.call("POST", "/flows/bulk", over)
    assert (status, body["error"]["code"], body["error"]["path"]) == (
        422, "too_many_flows", "filter"
    )  # fmt: skip
    dry = await api.ok("POST", "/flows/bulk", {**over, "dryRun": True})
    assert dry["matched"] == 5  # a dry run counts past the cap: that is how to see the size
    for flow_id in made:
        assert (await api.call("GET", f"/flows/{flow_id}"))[0] == 200  # nothing was touched
    for body, path in [
        ({"action": "delete"}, None),
        ({"action": "delete", "ids": made[:1], "filter": {}}, None),
        ({"action": "archive", "ids": made[:1]}, "action"),
        ({"action": "delete", "ids": []}, "ids"),
        ({"action": "delete", "filter": {"status": ["lost"]}}, "filter.status[0]"),
        ({"action": "delete", "filter": {"createdAfter": "soon"}}, "filter.createdAfter"),
        ({"action": "delete", "filter": {"limit": 3}}, "filter.limit"),
    ]:
        status, answer = await api.call("POST", "/flows/bulk", body)
        assert status == 422, (body, answer)
        assert answer["error"].get("path") == path, (body, answer)
