"""POST /flows rejects bad requests before storing anything, naming the path."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backend.settings import Settings
from tests.backend.api.api_helpers import Api, chain, node


async def post_error(api: Api, body: Any, status: int) -> dict[str, Any]:
    resp = await api.client.post("/flows", json=body, headers=api.auth())
    assert resp.status == status, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    return error


async def flow_count(api: Api) -> int:
    async with api.store.db.read() as conn, conn.execute("SELECT count(*) FROM flows") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        (node(colour="red"), "colour", "extra_forbidden"),
        (node(children=[node(opts={"atempts": 3})]), "children[0].opts.atempts", "extra_forbidden"),
        (node(queue="nope"), "queueName", "unknown_queue"),
        (node(children=[node(), node(queue="mail")]), "children[1].queueName", "unknown_queue"),
        (node(opts={"attempts": "many"}), "opts.attempts", "int_type"),
        (node(children="a"), "children", "list_type"),
        (node(""), "name", "string_too_short"),
        (node("   "), "name", "string_pattern_mismatch"),
        ({"queueName": "jobQueue"}, "name", "missing"),
        (
            node(children=[node(opts={"backoff": {"type": "linear", "delay": 5}})]),
            "children[0].opts.backoff.type",
            "literal_error",
        ),
        (
            node(
                children=[
                    node(opts={"failParentOnFailure": True, "ignoreDependencyOnFailure": True})
                ]
            ),
            "children[0].opts",
            "value_error",
        ),
        (node(children=[node(children=[3])]), "children[0].children[0]", "model_type"),
        (node(data=json.loads("[" * 70 + "]" * 70)), "data", "json_too_deep"),
        (node(opts={"jobId": "has space"}), "opts.jobId", "string_pattern_mismatch"),
    ],
)
async def test_invalid_trees_are_422_with_the_offending_path(
    api: Api, body: Any, path: str, code: str
) -> None:
    error = await post_error(api, body, 422)
    assert error["path"] == path
    if "errors" in error:
        assert error["errors"][0]["code"] == code
        assert error["errors"][0]["path"] == path
    else:
        assert error["code"] == code
    assert await flow_count(api) == 0


async def test_every_error_of_the_first_bad_node_is_listed(api: Api) -> None:
    body = node(children=[node("", opts={"attempts": 0, "bogus": 1}), node(queue="nope")])
    error = await post_error(api, body, 422)
    paths = {item["path"] for item in error["errors"]}
    assert paths == {"children[0].name", "children[0].opts.attempts", "children[0].opts.bogus"}


async def test_body_that_is_not_an_object(api: Api) -> None:
    error = await post_error(api, [node()], 422)
    assert error["code"] == "validation_error"


async def test_duplicate_job_id_in_the_tree_names_the_second_use(api: Api) -> None:
    body = node(
        opts={"jobId": "x"},
        children=[node("a"), node("b", children=[node("c", opts={"jobId": "x"})])],
    )
    error = await post_error(api, body, 409)
    assert error["code"] == "duplicate_job_id"
    assert error["path"] == "children[1].children[0].opts.jobId"
    assert await flow_count(api) == 0


async def test_job_id_of_an_existing_job_is_409(api: Api) -> None:
    await api.post_flow(node(children=[node(opts={"jobId": "taken"})]))
    error = await post_error(api, node(children=[node(), node(opts={"jobId": "taken"})]), 409)
    assert error["code"] == "duplicate_job_id"
    assert error["path"] == "children[1].opts.jobId"
    # another user cannot reuse it either: job ids are global (they are taskiq task ids)
    resp = await api.client.post(
        "/flows", json=node(opts={"jobId": "taken"}), headers=api.auth(api.bob)
    )
    assert resp.status == 409
    assert await flow_count(api) == 1


@pytest.fixture
def small_limits(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, max_tree_jobs=5, max_tree_depth=3, max_string_length=10, max_body_bytes=2000
    )


async def test_limits_from_settings(
    make_api: Callable[..., Awaitable[Api]], small_limits: Settings
) -> None:
    api = await make_api(small_limits)
    error = await post_error(api, chain(4), 422)
    assert error["code"] == "tree_too_deep"
    assert error["path"] == "children[0].children[0].children"
    await api.post_flow(chain(3))

    error = await post_error(api, node(children=[node(f"c{i}") for i in range(5)]), 422)
    assert error["code"] == "tree_too_large"
    assert error["path"] == "children[4]"
    await api.post_flow(node(children=[node(f"c{i}") for i in range(4)]))

    error = await post_error(api, node("x" * 11), 422)
    assert (error["code"], error["path"]) == ("string_too_long", "name")
    error = await post_error(api, node(opts={"jobId": "j" * 11}), 422)
    assert (error["code"], error["path"]) == ("string_too_long", "opts.jobId")

    error = await post_error(api, node(data="x" * 3000), 413)
    assert error["code"] == "payload_too_large"


async def test_body_over_the_limit_without_content_length_is_413(
    make_api: Callable[..., Awaitable[Api]], small_limits: Settings
) -> None:
    api = await make_api(small_limits)

    async def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    resp = await api.client.post(
        "/flows", data=chunks(), headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("raw", [b"{", b"", b'{"name": NaN}', b"\xff\xfe\x00", b"{'name': 'a'}"])
async def test_invalid_json_is_400(api: Api, raw: bytes) -> None:
    resp = await api.client.post(
        "/flows", data=raw, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"


async def test_json_too_deep_to_decode_is_422(api: Api) -> None:
    raw = b'{"name": "a", "queueName": "jobQueue", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    resp = await api.client.post(
        "/flows", data=raw, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "json_too_deep"


async def test_depth_300_chain_is_accepted_when_the_limit_allows(
    make_api: Callable[..., Awaitable[Api]], settings: Settings
) -> None:
    api = await make_api(dataclasses.replace(settings, max_tree_depth=300))
    flow = await api.post_flow(chain(300))
    assert flow["total"] == 300
    error = await post_error(api, chain(301), 422)
    assert error["code"] == "tree_too_deep"


async def test_options_are_stored_in_bullmq_names(api: Api) -> None:
    opts = {
        "attempts": 4,
        "backoff": 250,
        "priority": 3,
        "timeout": 1000,
        "jobId": "opt-job",
        "continueParentOnFailure": True,
    }
    await api.post_flow(node(opts=opts))
    resp = await api.client.get("/jobs/opt-job", headers=api.auth())
    stored = (await resp.json())["opts"]
    assert stored == {**opts, "backoff": {"type": "fixed", "delay": 250}}
