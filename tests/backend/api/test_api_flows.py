"""The /flows routes against a real server and a real SQLite store."""

from __future__ import annotations

import asyncio
from typing import Any

from backend.domain.models import JobState
from tests.backend.api.api_helpers import Api, chain, node


async def set_status(api: Api, job_id: str, status: JobState) -> None:
    async with api.store.db.transaction() as conn:
        await conn.execute(
            "UPDATE flow_jobs SET status = ? WHERE job_id = ?", (status.value, job_id)
        )


async def test_create_flow_returns_201_with_counts(api: Api) -> None:
    body = node(
        "report",
        data={"month": 5},
        children=[node("a", "webhooks"), node("b", opts={"delay": 5000, "jobId": "b-1"})],
    )
    flow = await api.post_flow(body)
    assert flow["name"] == "report"
    assert flow["status"] == "active"
    assert flow["total"] == 3
    assert flow["counts"]["waiting-children"] == 1
    assert flow["counts"]["waiting"] == 1
    assert flow["counts"]["delayed"] == 1
    assert flow["createdAt"].endswith("+00:00")


async def test_get_flow_and_its_jobs(api: Api) -> None:
    flow = await api.post_flow(node("root", children=[node("a", opts={"jobId": "job-a"})]))
    resp = await api.client.get(f"/flows/{flow['id']}", headers=api.auth())
    assert resp.status == 200
    assert (await resp.json())["id"] == flow["id"]

    resp = await api.client.get(f"/flows/{flow['id']}/jobs", headers=api.auth())
    assert resp.status == 200
    jobs = (await resp.json())["items"]
    assert [job["name"] for job in jobs] == ["root", "a"]
    root, child = jobs
    assert root["jobId"] == flow["rootJobId"]
    assert root["children"] == ["job-a"]
    assert child["parentId"] == root["jobId"]
    assert child["opts"] == {"attempts": 1, "jobId": "job-a"}
    assert child["status"] == "waiting"
    assert root["status"] == "waiting-children"


async def test_tree_is_nested_in_request_order(api: Api) -> None:
    body = node("root", children=[node("a", children=[node("a1"), node("a2")]), node("b")])
    flow = await api.post_flow(body)
    resp = await api.client.get(f"/flows/{flow['id']}/tree", headers=api.auth())
    assert resp.status == 200
    tree = await resp.json()
    assert tree["name"] == "root"
    assert [n["name"] for n in tree["nodes"]] == ["a", "b"]
    assert [n["name"] for n in tree["nodes"][0]["nodes"]] == ["a1", "a2"]
    assert tree["nodes"][1]["nodes"] == []


async def test_deep_chain_is_accepted_and_read_back_as_a_tree(api: Api) -> None:
    flow = await api.post_flow(chain(250))
    assert flow["total"] == 250
    resp = await api.client.get(f"/flows/{flow['id']}/tree", headers=api.auth())
    tree: Any = await resp.json()
    depth = 1
    while tree["nodes"]:
        (tree,) = tree["nodes"]
        depth += 1
    assert depth == 250
    assert tree["name"] == "leaf"


async def test_unknown_and_foreign_flows_are_the_same_404(api: Api) -> None:
    flow = await api.post_flow(node())
    answers: dict[str, list[tuple[str, str]]] = {}
    for flow_id in (flow["id"], "nope"):
        for method, suffix in (("GET", ""), ("GET", "/jobs"), ("GET", "/tree"), ("DELETE", "")):
            resp = await api.client.request(
                method, f"/flows/{flow_id}{suffix}", headers=api.auth(api.bob)
            )
            assert resp.status == 404
            error = (await resp.json())["error"]
            answer = (error["code"], error["message"].replace(flow_id, "<id>"))
            answers.setdefault(flow_id, []).append(answer)
    # the answer must not tell another user's flow from a missing one
    assert answers[flow["id"]] == answers["nope"]
    assert answers["nope"][0][0].endswith("not_found")
    resp = await api.client.get(f"/flows/{flow['id']}", headers=api.auth())
    assert resp.status == 200


async def test_delete_flow(api: Api) -> None:
    flow = await api.post_flow(node(children=[node("a", opts={"jobId": "gone"})]))
    resp = await api.client.delete(f"/flows/{flow['id']}", headers=api.auth())
    assert resp.status == 204
    resp = await api.client.get(f"/flows/{flow['id']}", headers=api.auth())
    assert resp.status == 404
    resp = await api.client.get("/jobs/gone", headers=api.auth())
    assert resp.status == 404


async def test_delete_is_refused_while_a_job_is_active(api: Api) -> None:
    flow = await api.post_flow(node(children=[node("a", opts={"jobId": "busy"})]))
    await set_status(api, "busy", JobState.ACTIVE)
    resp = await api.client.delete(f"/flows/{flow['id']}", headers=api.auth())
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "flow_active"
    resp = await api.client.get(f"/flows/{flow['id']}", headers=api.auth())
    assert resp.status == 200


async def list_all(api: Api, query: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/flows?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        resp = await api.client.get(url, headers=api.auth())
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return items


async def test_list_is_newest_first_and_pages_cover_everything(api: Api) -> None:
    ids = [(await api.post_flow(node(f"flow-{i}")))["id"] for i in range(7)]
    await api.post_flow(node("other user"), token=api.bob)
    items = await list_all(api, "", 3)
    assert [item["id"] for item in items] == list(reversed(ids))

    resp = await api.client.get("/flows", headers=api.auth())
    page = await resp.json()
    assert len(page["items"]) == 7
    assert page["nextCursor"] is None


async def test_pagination_has_no_gaps_or_duplicates_while_flows_are_inserted(api: Api) -> None:
    before = [(await api.post_flow(node(f"old-{i}")))["id"] for i in range(12)]
    stop = asyncio.Event()

    async def insert_more() -> None:
        i = 0
        while not stop.is_set():
            await api.post_flow(node(f"new-{i}"))
            i += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(insert_more())
    try:
        seen: list[str] = []
        first = await api.client.get("/flows?limit=4", headers=api.auth())
        page = await first.json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["nextCursor"]
        while cursor:
            await asyncio.sleep(0.01)  # let inserts land between pages
            resp = await api.client.get(f"/flows?limit=4&cursor={cursor}", headers=api.auth())
            page = await resp.json()
            seen.extend(item["id"] for item in page["items"])
            cursor = page["nextCursor"]
    finally:
        stop.set()
        await writer
    assert len(seen) == len(set(seen))
    old_seen = [flow_id for flow_id in seen if flow_id in set(before)]
    assert old_seen == list(reversed(before))


async def test_filter_by_status_and_name(api: Api) -> None:
    done = await api.post_flow(node("Nightly_Report"))
    await api.post_flow(node("nightly-backup"))
    await api.post_flow(node("weekly"))
    async with api.store.db.transaction() as conn:
        await conn.execute("UPDATE flows SET status = 'completed' WHERE id = ?", (done["id"],))

    names = [f["name"] for f in await list_all(api, "&q=NIGHTLY", 50)]
    assert names == ["nightly-backup", "Nightly_Report"]
    names = [f["name"] for f in await list_all(api, "&q=y_r", 50)]
    assert names == ["Nightly_Report"]  # "_" is literal, not a LIKE wildcard
    names = [f["name"] for f in await list_all(api, "&status=completed", 50)]
    assert names == ["Nightly_Report"]
    names = [f["name"] for f in await list_all(api, "&status=active&q=nightly", 50)]
    assert names == ["nightly-backup"]


async def test_invalid_query_parameters_are_422_with_their_path(api: Api) -> None:
    cases = {
        "limit=0": "query.limit",
        "limit=201": "query.limit",
        "limit=ten": "query.limit",
        "cursor=%%%": "query.cursor",
        "cursor=bm90LWEtY3Vyc29y": "query.cursor",
        "status=sleeping": "query.status",
        "q=" + "x" * 1001: "query.q",
    }
    for query, path in cases.items():
        resp = await api.client.get(f"/flows?{query}", headers=api.auth())
        assert resp.status == 422, query
        error = (await resp.json())["error"]
        assert error["path"] == path
        assert error["code"] == "invalid_query"
