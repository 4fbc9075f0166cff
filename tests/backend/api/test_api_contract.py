"""The contract as a client generated from ``/openapi.json`` sees it.

Each test is a defect a generated client and a fuzzer found: the server and
its served document must agree exactly, and a client's mistake is a 4xx
with the API's words, never a 500 or a pydantic class name.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backend import schemas
from backend.api.routes.execution import routes as execution_routes
from backend.settings import Settings
from tests.backend.api.api_helpers import Api, node

CLASS_NAMES = [
    name
    for name, value in vars(schemas).items()
    if isinstance(value, type) and name[0].isupper() and name not in {"Any", "Literal"}
]


async def _doc(api: Api) -> dict[str, Any]:
    doc: dict[str, Any] = await (await api.client.get("/openapi.json")).json()
    return doc


async def _post_raw(api: Api, body: bytes, **headers: str) -> tuple[int, Any]:
    resp = await api.client.post("/flows", data=body, headers={**api.auth(), **headers})
    return resp.status, await resp.json()


async def test_a_body_that_is_not_the_gzip_it_claims_is_400(api: Api) -> None:
    body = json.dumps(node("gz")).encode()
    # the server closes a connection whose body it could not decode
    json_type = {"Content-Type": "application/json", "Connection": "close"}
    status, answer = await _post_raw(api, body, **json_type, **{"Content-Encoding": "gzip"})
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_body"
    status, _ = await _post_raw(
        api, gzip.compress(body), **json_type, **{"Content-Encoding": "gzip"}
    )
    assert status == 201
    status, answer = await _post_raw(api, body, **json_type, **{"Content-Encoding": "gzip, gzip"})
    assert status == 415
    assert answer["error"]["code"] == "unsupported_content_encoding"


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "n", "queueName": "jobQueue", "data": 1e400}',
        '{"name": "n", "queueName": "jobQueue", "data": {"deep": [-1E+999]}}',
        '{"name": "n", "queueName": "jobQueue", "children": '
        '[{"name": "c", "queueName": "jobQueue", "data": 2.5e308}]}',
    ],
)
async def test_numbers_no_double_holds_are_refused_anywhere(api: Api, raw: str) -> None:
    status, answer = await _post_raw(api, raw.encode(), **{"Content-Type": "application/json"})
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_json"
    assert "too large" in answer["error"]["message"]


async def test_the_largest_double_is_kept(api: Api) -> None:
    flow = await api.post_flow(node(data=1.7976931348623157e308))
    jobs = await (await api.client.get(f"/flows/{flow['id']}/jobs", headers=api.auth())).json()
    assert jobs["items"][0]["data"] == 1.7976931348623157e308


@pytest.mark.parametrize(
    "opts",
    [
        {"attempts": "3"},
        {"attempts": True},
        {"attempts": 3.5},
        {"delay": "5"},
        {"timeout": "100"},
        {"priority": False},
        {"failParentOnFailure": "yes"},
        {"continueParentOnFailure": 0},
        {"backoff": {"delay": "10"}},
        {"backoff": {"jitter": True}},
        {"jobId": 7},
    ],
)
async def test_options_are_not_coerced(api: Api, opts: dict[str, Any]) -> None:
    resp = await api.client.post("/flows", json=node(opts=opts), headers=api.auth())
    assert resp.status == 422, opts
    error = (await resp.json())["error"]
    key = next(iter(opts))
    inner = opts[key]
    assert error["path"] == "opts." + key + (
        f".{next(iter(inner))}" if isinstance(inner, dict) else ""
    )


async def test_integers_are_json_integers(api: Api) -> None:
    # JSON Schema's `integer` is a number without a fraction, 3.0 included
    await api.post_flow(node(opts={"attempts": 3.0, "delay": 4294967296.0, "backoff": 500.0}))


async def test_backoff_has_both_documented_forms_and_plain_messages(api: Api) -> None:
    await api.post_flow(node(opts={"backoff": 500}))
    await api.post_flow(node(opts={"backoff": {"type": "exponential", "delay": 10}}))
    for bad in (500.5, "500", True, -1, [500]):
        resp = await api.client.post("/flows", json=node(opts={"backoff": bad}), headers=api.auth())
        assert resp.status == 422, bad
        error = (await resp.json())["error"]
        assert error["path"] == "opts.backoff"
        assert "milliseconds" in error["message"]
    backoff = (await _doc(api))["components"]["schemas"]["JobOpts"]["properties"]["backoff"]
    forms = backoff["anyOf"]
    assert (forms[0]["type"], forms[0]["minimum"]) == ("integer", 0)
    assert {"$ref": "#/components/schemas/BackoffSpec"} in forms


@pytest.mark.parametrize(
    "body",
    [
        node(opts="fast"),
        node(opts={"backoff": "x"}),
        node(children=[3]),
        node(children="x"),
        node(name=5),
        node(opts={"attempts": 1.5}),
        [],
        node(opts={"backoff": {"type": 1}}),
    ],
)
async def test_messages_speak_json_not_python(api: Api, body: Any) -> None:
    resp = await api.client.post("/flows", json=body, headers=api.auth())
    assert resp.status == 422
    text = json.dumps(await resp.json())
    leaked = [name for name in CLASS_NAMES if re.search(rf"\b{name}\b", text)]
    assert leaked == [], text
    assert "dict" not in text
    assert "instance" not in text


async def test_ws_without_upgrade_is_426_as_documented(api: Api) -> None:
    resp = await api.client.get("/ws", headers=api.auth())
    assert resp.status == 426
    assert resp.headers["Upgrade"] == "websocket"
    assert (await resp.json())["error"]["code"] == "upgrade_required"
    documented = (await _doc(api))["paths"]["/ws"]["get"]["responses"]
    assert documented["426"]["headers"]["Upgrade"]["schema"]["const"] == "websocket"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json-patch+json"],
)
async def test_only_application_json_bodies(api: Api, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps(node("typed")).encode()
    resp = await api.client.post("/flows", data=body, headers={**api.auth(), **headers})
    assert resp.status == 415, content_type
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    status, _ = await _post_raw(api, body, **{"Content-Type": "application/json; charset=utf-8"})
    assert status == 201
    assert "415" in (await _doc(api))["paths"]["/flows"]["post"]["responses"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("\u0085", False),
        ("\ufeff", False),
        ("\u00a0\u2028\u3000", False),
        ("\x1c", False),
        (" a ", True),
        ("\ufeffx", True),
        ("\u200b", True),  # zero-width space is not whitespace in either dialect
    ],
)
async def test_name_check_and_document_agree(api: Api, name: str, valid: bool) -> None:
    pattern = (await _doc(api))["components"]["schemas"]["CreateFlowRequest"]["properties"]["name"][
        "pattern"
    ]
    assert bool(re.search(pattern, name)) is valid
    # ECMA-262's \s (JSON Schema's dialect) and Python's \s both stay inside the class
    ecma_space = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
        chr(c) for c in range(0x2000, 0x200B)
    )
    python_space = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert not any(re.search(pattern, ch) for ch in set(ecma_space + python_space))
    resp = await api.client.post("/flows", json=node(name), headers=api.auth())
    assert (resp.status == 201) is valid, await resp.text()


async def test_cursors_are_documented_as_opaque(api: Api) -> None:
    for raw in ("0", "ffffffffffffff", "7"):  # every string of the documented shape is a position
        resp = await api.client.get(f"/flows?cursor={raw}", headers=api.auth())
        assert resp.status == 200
    for raw in ("", "G", "0" * 16, "%25"):
        resp = await api.client.get(f"/flows?cursor={raw}", headers=api.auth())
        assert resp.status == 422, raw
    doc = await _doc(api)
    cursor = next(p for p in doc["paths"]["/flows"]["get"]["parameters"] if p["name"] == "cursor")
    assert "opaque" in cursor["description"]
    page = doc["components"]["schemas"]["FlowPage"]["properties"]["nextCursor"]
    assert "opaque" in page["description"]


async def test_a_job_has_one_identifier_on_the_wire(api: Api) -> None:
    flow = await api.post_flow(node("root", children=[node("leaf")]))
    jobs = (await (await api.client.get(f"/flows/{flow['id']}/jobs", headers=api.auth())).json())[
        "items"
    ]
    for job in jobs:
        assert "id" not in job
        resp = await api.client.get(f"/jobs/{job['jobId']}", headers=api.auth())
        assert resp.status == 200
    tree = await (await api.client.get(f"/flows/{flow['id']}/tree", headers=api.auth())).json()
    assert "id" not in tree
    assert tree["jobId"] == flow["rootJobId"]
    assert tree["children"] == [tree["nodes"][0]["jobId"]]
    schema = (await _doc(api))["components"]["schemas"]["FlowJobResponse"]
    assert "id" not in schema["properties"]


async def test_timestamps_errors_and_the_document_itself_have_schemas(
    make_api: Callable[..., Awaitable[Api]], settings: Settings
) -> None:
    doc = await _doc(await make_api(settings, extra_routes=[execution_routes]))
    defs = doc["components"]["schemas"]
    for model, fields in {
        "FlowResponse": ("createdAt", "updatedAt", "finishedAt"),
        "FlowJobResponse": ("createdAt", "updatedAt", "startedAt", "finishedAt", "runAt"),
        "JobLogEntry": ("createdAt",),
        "WorkerResponse": ("startedAt", "heartbeatAt"),
    }.items():
        for field in fields:
            prop = defs[model]["properties"][field]
            forms = prop.get("anyOf", [prop])
            assert any(
                form.get("type") == "string" and form.get("format") == "date-time" for form in forms
            ), (model, field)
    error = defs["FlowJobResponse"]["properties"]["error"]
    assert {"$ref": "#/components/schemas/JobError"} in error["anyOf"]
    assert set(defs["JobError"]["required"]) >= {"type", "message", "traceback"}
    ok = doc["paths"]["/openapi.json"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OpenApiDocument"
    }


def test_stored_errors_of_every_shape_serialise_as_the_schema_says() -> None:
    stalled = schemas.JobError.of({"type": "Stalled", "message": "worker w stopped"})
    assert stalled is not None
    assert stalled.model_dump(by_alias=True) == {
        "type": "Stalled",
        "message": "worker w stopped",
        "traceback": "",
        "childJobId": None,
    }
    child = schemas.JobError.of({"type": "ChildFailed", "message": "m", "childJobId": "c1"})
    assert child is not None
    assert child.child_job_id == "c1"
    assert schemas.JobError.of(None) is None
