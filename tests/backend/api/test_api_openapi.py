"""/openapi.json describes exactly the routes the app serves, and /docs works offline."""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from backend.api.openapi import routes_of
from tests.backend.api.api_helpers import Api


async def get_doc(api: Api) -> dict[str, Any]:
    resp = await api.client.get("/openapi.json")
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


async def test_every_registered_route_is_documented(api: Api) -> None:
    doc = await get_doc(api)
    assert doc["openapi"].startswith("3.1")
    registered = {(method.lower(), path) for method, path, _ in routes_of(api.app)}
    documented = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert registered == documented
    assert ("post", "/flows") in registered
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "x-undocumented" not in op, (method, path)
            assert op["summary"]
            assert "500" in op["responses"]
            if op["security"]:
                assert "401" in op["responses"]
            template_params = set(re.findall(r"{(\w+)}", path))
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert template_params == declared


async def test_public_routes_are_marked_public(api: Api) -> None:
    doc = await get_doc(api)
    public = {
        path
        for path, item in doc["paths"].items()
        if any(op.get("security") == [] for op in item.values())
    }
    assert public >= {"/health", "/openapi.json", "/docs"}
    assert "/flows" not in public
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def walk_refs(value: Any) -> list[str]:
    refs: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                refs.append(item["$ref"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return refs


async def test_schemas_are_valid_and_every_ref_resolves(api: Api) -> None:
    doc = await get_doc(api)
    schemas = doc["components"]["schemas"]
    for name, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert name.isidentifier()
    for ref in walk_refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas
    for required in ("CreateFlowRequest", "FlowJobData", "JobOpts", "FlowResponse",
                     "FlowTreeNode", "ErrorResponse", "JobDetail"):  # fmt: skip
        assert required in schemas
    # camelCase on the wire
    assert "queueName" in schemas["CreateFlowRequest"]["properties"]
    assert "failParentOnFailure" in schemas["JobOpts"]["properties"]


async def test_request_example_is_valid_and_accepted(api: Api) -> None:
    doc = await get_doc(api)
    media = doc["paths"]["/flows"]["post"]["requestBody"]["content"]["application/json"]
    validator = jsonschema.Draft202012Validator(
        {**media["schema"], "components": doc["components"]}
    )
    validator.validate(media["example"])
    assert not validator.is_valid({**media["example"], "colour": "red"})
    flow = await api.post_flow(media["example"])
    assert flow["total"] == 3


async def test_docs_page_is_self_contained(api: Api) -> None:
    resp = await api.client.get("/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert 'fetch("openapi.json")' in html
    # nothing loaded from another origin
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html
