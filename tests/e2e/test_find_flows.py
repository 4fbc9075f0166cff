"""Finding flows and jobs across a history, against a real backend, real workers and Redis.

The flows are run to their real ends (completed, failed through
``failParentOnFailure``, retried, still running) by ``taskiq worker``
processes, then found with every filter of ``GET /flows`` alone and combined,
and their jobs with ``GET /jobs``; every answer is also checked against the
OpenAPI document (the kit's recorder).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from tests.e2e.kit import Backend, Workers, node


def paged(path: str, query: str, cursor: str | None) -> str:
    parts = [query, "limit=2", f"cursor={cursor}" if cursor else ""]
    return path + "?" + "&".join(part for part in parts if part)


async def ids_of(backend: Backend, query: str, cursor: str | None = None) -> list[str]:
    """Every flow ``GET /flows?query`` finds, following the cursor page by page."""
    found: list[str] = []
    while True:
        page = await backend.api.ok("GET", paged("/flows", query, cursor))
        found += [flow["id"] for flow in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return found


async def job_ids_of(backend: Backend, query: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    cursor = None
    while True:
        page = await backend.api.ok("GET", paged("/jobs", query, cursor))
        found += [(job["jobId"], job["flowId"]) for job in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return found


async def make_history(backend: Backend) -> dict[str, dict[str, Any]]:
    api = backend.api
    flows = {
        "a": await api.create({**node("a-root", "value", node("a-1", data={"value": 1})),
                               "metadata": {"customer": "acme", "tier": 1}}),
        "b": await api.create({**node("b-root", "value",
                                      node("b-bad", "boom", opts={"failParentOnFailure": True})),
                               "metadata": {"customer": "acme", "vip": True}}),
        "c": await api.create({**node("c-root", "value", node("c-flaky", "flaky",
                                      data={"fails": 1}, opts={"attempts": 2})),
                               "metadata": {"customer": "globex"}}),
        "d": await api.create({**node("d-root", "slow", data={"seconds": 60}),
                               "metadata": {"customer": "acme"}}),
        "e": await api.create(node("e-root", "collect", node("e-1", queue="webhooks"))),
    }  # fmt: skip
    for key in "abce":
        flows[key] = await api.wait_flow(flows[key]["id"])
    flows["d"] = await api.wait_flow(flows["d"]["id"], done=lambda f: f["counts"]["active"] == 1)
    return flows


async def test_every_flow_filter_alone_and_combined(backend: Backend, workers: Workers) -> None:
    workers.start()
    flows = await make_history(backend)
    fid = {key: flow["id"] for key, flow in flows.items()}
    assert [flows[k]["status"] for k in "abcde"] == [
        "completed",
        "failed",
        "completed",
        "active",
        "completed",
    ]
    assert flows["a"]["metadata"] == {"customer": "acme", "tier": 1}
    assert flows["e"]["metadata"] == {}

    key_of = {flow_id: key for key, flow_id in fid.items()}

    async def find(query: str) -> str:
        return "".join(key_of[flow_id] for flow_id in await ids_of(backend, query))

    assert await find("sort=created") == "edcba"
    assert await find("meta.customer=acme") == "dba"
    assert await find("meta.customer=acme&meta.vip=true") == "b"
    assert await find("meta.tier=1&meta.customer=acme") == "a"
    assert await find("meta.customer=nobody") == ""
    assert await find("status=failed") == "b"
    assert await find("status=completed&status=failed") == "ecba"
    assert await find("meta.customer=acme&status=completed&status=active") == "da"
    assert await find("task=boom") == "b"
    assert await find("task=flaky&meta.customer=globex") == "c"
    assert await find("task=boom&meta.customer=globex") == ""
    assert await find("task=value&status=completed") == "eca"  # e-1 runs value too
    assert await find("jobId=b-bad") == "b"
    assert await find("jobId=b-bad&status=completed") == ""
    assert await find("q=c-ro&task=flaky") == ""  # q is the flow's name: the root's task
    assert await find("q=SLO") == "d"
    created_c = quote(flows["c"]["createdAt"])
    assert await find(f"createdAfter={created_c}") == "edc"
    assert await find(f"createdBefore={created_c}") == "ba"
    assert await find(f"createdAfter={created_c}&meta.customer=acme") == "d"
    assert await find("finishedAfter=0") == "ecba"
    assert await find("finishedAfter=0&meta.customer=acme") == "ba"
    assert await find("finishedBefore=1") == ""
    by_finish = await find("sort=finished")
    assert sorted(by_finish) == ["a", "b", "c", "e"]
    finish = [flows[k]["finishedAt"] for k in by_finish]
    assert finish == sorted(finish, reverse=True)
    by_duration = await find("sort=duration&status=completed")
    assert sorted(by_duration) == ["a", "c", "e"]

    def took(k: str) -> float:
        return _ms(flows[k]["finishedAt"]) - _ms(flows[k]["createdAt"])

    assert [took(k) for k in by_duration] == sorted((took(k) for k in by_duration), reverse=True)
    assert await find("sort=duration&meta.customer=acme") == "".join(
        sorted("ab", key=took, reverse=True)
    )


def _ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp() * 1000


async def test_pages_stay_stable_while_flows_are_created(
    backend: Backend, workers: Workers
) -> None:
    api = backend.api
    made = [await api.create({**node(f"p{i}", "value"), "metadata": {"batch": "p"}})
            for i in range(5)]  # fmt: skip
    first = await api.ok("GET", "/flows?meta.batch=p&limit=2")
    for i in range(3):  # created between pages: newer than the cursor, so never in them
        await api.create({**node(f"late{i}", "value"), "metadata": {"batch": "p"}})
    rest = await ids_of(backend, "meta.batch=p", first["nextCursor"])
    seen = [flow["id"] for flow in first["items"]] + rest
    assert seen == [flow["id"] for flow in reversed(made)]


async def test_jobs_across_flows(backend: Backend, workers: Workers) -> None:
    workers.start()
    flows = await make_history(backend)
    failed = await job_ids_of(backend, "state=failed")
    assert sorted(failed) == sorted([("b-bad", flows["b"]["id"]), ("b-root", flows["b"]["id"])])
    page = await backend.api.ok("GET", "/jobs?state=failed&errorType=ValueError")
    assert [(j["jobId"], j["error"]["type"]) for j in page["items"]] == [("b-bad", "ValueError")]
    assert await job_ids_of(backend, "errorType=ChildFailed") == [("b-root", flows["b"]["id"])]
    assert await job_ids_of(backend, "task=flaky&state=completed") == [
        ("c-flaky", flows["c"]["id"])
    ]
    assert await job_ids_of(backend, "queue=webhooks") == [("e-1", flows["e"]["id"])]
    assert await job_ids_of(backend, "state=active") == [("d-root", flows["d"]["id"])]
    everything = await job_ids_of(backend, "")
    assert len(everything) == len(set(everything)) == 9
    assert everything[-1] == ("d-root", flows["d"]["id"])  # the unfinished job comes last
    finished = await backend.api.ok("GET", "/jobs?limit=200")
    stamps = [job["finishedAt"] for job in finished["items"] if job["finishedAt"]]
    assert stamps == sorted(stamps, reverse=True)
    after_b = quote(flows["b"]["finishedAt"])
    recent = await job_ids_of(backend, f"finishedAfter={after_b}")
    assert ("b-root", flows["b"]["id"]) in recent
    assert recent == [
        (job["jobId"], job["flowId"])
        for job in finished["items"]
        if job["finishedAt"] and _ms(job["finishedAt"]) >= _ms(flows["b"]["finishedAt"])
    ]
    assert await job_ids_of(backend, "finishedBefore=1") == []


async def test_bad_filters_and_metadata_are_422_with_their_path(backend: Backend) -> None:
    api = backend.api
    for query, path in [
        ("createdAfter=yesterday", "query.createdAfter"),
        ("finishedBefore=2026-13-01T00:00:00Z", "query.finishedBefore"),
        ("status=failed&status=bogus", "query.status"),
        ("sort=size", "query.sort"),
        ("meta.bad%20key=1", "query.meta"),
        ("meta.=1", "query.meta."),
        ("meta.a=1&meta.a=2", "query.meta.a"),
        ("task=", "query.task"),
        ("cursor=xyz", "query.cursor"),
    ]:
        status, body = await api.call("GET", f"/flows?{query}")
        assert status == 422, (query, body)
        assert body["error"]["path"].startswith(path), (query, body)
    status, body = await api.call("GET", "/jobs?state=lost")
    assert (status, body["error"]["path"]) == (422, "query.state")
    for metadata, path in [
        ({"nested": {"a": 1}}, "metadata.nested"),
        ({f"k{i}": i for i in range(33)}, "metadata"),
        ({"bad key": 1}, "metadata.bad key"),
        ({"long": "x" * 257}, "metadata.long"),
        ("acme", "metadata"),
    ]:
        status, body = await api.call("POST", "/flows", {**node("m", "value"),
                                                         "metadata": metadata})  # fmt: skip
        assert status == 422, (metadata, body)
        assert body["error"]["path"].startswith(path), (metadata, body)
    child_meta = node("root", "value", {**node("kid", "value"), "metadata": {"a": 1}})
    status, body = await api.call("POST", "/flows", child_meta)
    assert (status, body["error"]["path"]) == (422, "children[0].metadata")
