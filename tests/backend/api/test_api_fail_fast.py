"""``failFast``: a job option and the flow's default, validated and stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backend.api.api_helpers import Api, node


async def _opts(api: Api, flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resp = await api.client.get(f"/flows/{flow['id']}/jobs", headers=api.auth())
    return {job["jobId"]: job["opts"] for job in (await resp.json())["items"]}


async def test_the_flow_default_applies_where_a_job_leaves_it_unset(api: Api) -> None:
    body = node(
        opts={"jobId": "r"},
        children=[node(opts={"jobId": "a", "failFast": False}), node(opts={"jobId": "b"})],
    )
    body["failFast"] = True
    opts = await _opts(api, await api.post_flow(body))
    assert opts["r"].get("failFast") is True
    assert "failFast" not in opts["a"]
    assert opts["b"].get("failFast") is True


async def test_without_the_default_only_jobs_that_ask_fail_fast(api: Api) -> None:
    body = node(opts={"jobId": "r", "failFast": True}, children=[node(opts={"jobId": "a"})])
    opts = await _opts(api, await api.post_flow(body))
    assert opts["r"].get("failFast") is True
    assert "failFast" not in opts["a"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**node(), "failFast": "yes"}, "failFast"),
        ({**node(), "failFast": 1}, "failFast"),
        (node(opts={"failFast": "true"}), "opts.failFast"),
        (node(children=[{**node(), "failFast": True}]), "children[0].failFast"),
    ],
)
async def test_invalid_fail_fast_is_422_naming_the_field(
    api: Api, body: dict[str, Any], path: str
) -> None:
    resp = await api.client.post("/flows", json=body, headers=api.auth())
    assert resp.status == 422
    assert (await resp.json())["error"]["path"] == path
