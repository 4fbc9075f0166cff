"""Generate the OpenAPI 3.1 document from the router and the wire models.

Nothing here is written by hand per route: the paths come from the routes the
application actually registered, the operations from the metadata their
handlers carry (``spec.operation``), and the schemas from the pydantic models
in ``backend.schemas`` that validate requests and serialise responses. A
route registered without metadata still appears, flagged
``x-undocumented``, so a test can catch it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from backend.api.context import SETTINGS
from backend.api.spec import Operation, operation_of
from backend.schemas import ErrorResponse, QueryModel

log = logging.getLogger("backend.api")

REF_TEMPLATE = "#/components/schemas/{model}"
_OP_ID = re.compile(r"[^A-Za-z0-9]+")

_ERROR_TEXT = {
    400: (
        "The request cannot be read: the body is not valid JSON or holds a number no "
        "64-bit float holds (`invalid_json`), its Content-Encoding does not decode "
        "(`invalid_body`), or a websocket handshake is malformed (`bad_request`)."
    ),
    401: "Missing, malformed, unknown or revoked bearer token (`unauthorized`).",
    404: "Not found, or owned by another user (`not_found`).",
    405: "Method not allowed for this path (`method_not_allowed`).",
    409: "Conflict: a duplicate `jobId`, or the flow has active jobs.",
    413: "The body exceeds `max_body_bytes` (`payload_too_large`).",
    415: (
        "The body is not sent as `Content-Type: application/json` "
        "(`unsupported_media_type`), or in a Content-Encoding other than gzip or deflate "
        "(`unsupported_content_encoding`)."
    ),
    422: (
        "A field or query parameter is invalid, or a query parameter is not one this "
        "route accepts; `path` names it (`query.NAME` for query parameters)."
    ),
    426: "Not a websocket handshake: upgrade with `Upgrade: websocket` (`upgrade_required`).",
    500: "Unexpected server error (`internal_error`); details are in the server log.",
}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}},
    426: {"Upgrade": {"schema": {"type": "string", "const": "websocket"}}},
}
_SUCCESS_TEXT = {
    101: "Switching protocols: the websocket is open",
    200: "OK",
    201: "Created",
    204: "No content",
}

Mode = Literal["validation", "serialization"]


def routes_of(app: web.Application) -> list[tuple[str, str, Operation | None]]:
    """``(method, path template, operation)`` for every route except implicit HEADs."""
    out = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical if route.resource is not None else ""
        out.append((route.method, path, operation_of(route.handler)))
    return out


def _schemas(ops: list[Operation]) -> tuple[dict[Any, Any], Any]:
    wanted: dict[tuple[type[BaseModel], Mode], None] = {(ErrorResponse, "serialization"): None}
    for op in ops:
        if op.request is not None:
            wanted[(op.request, "validation")] = None
        for model in op.responses.values():
            if model is not None:
                wanted[(model, "serialization")] = None
    key_map, top = models_json_schema(list(wanted), ref_template=REF_TEMPLATE, by_alias=True)
    return dict(key_map), top.get("$defs", {})


def _json(schema: Any, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _path_params(path: str, op: Operation | None) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    described = op.path_params if op is not None else {}
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": described.get(name, ""),
        }
        for name in names
    ]


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with its local ``$ref``s replaced by what they name (query values are flat)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        inlined = {k: _inline(v, defs) for k, v in schema.items() if k not in {"title", "$ref"}}
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **inlined}
        return inlined
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


def query_params(model: type[QueryModel]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of a route, from the model that parses them."""
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        inlined = _inline(prop, defs)
        description = inlined.pop("description", "")
        if inlined.get("default", 0) is None:
            del inlined["default"]  # absent, not null: a query value is a string
        params.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": inlined,
                "description": description,
            }
        )
    return params


def _operation(method: str, path: str, op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    error_ref = refs[(ErrorResponse, "serialization")]
    responses: dict[str, Any] = {}
    for status, model in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": _SUCCESS_TEXT.get(status, "OK")}
        if model is not None:
            entry["content"] = _json(refs[(model, "serialization")])
        elif op.media_type != "application/json":
            entry["content"] = {op.media_type: {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    statuses = set(op.errors) | {422, 500}  # 422: every route refuses unknown query names
    if op.auth:
        statuses.add(401)
    for status in sorted(statuses):
        responses[str(status)] = {"description": _ERROR_TEXT[status], "content": _json(error_ref)}
        if status in _ERROR_HEADERS:
            responses[str(status)]["headers"] = _ERROR_HEADERS[status]
    doc: dict[str, Any] = {
        "operationId": method.lower() + _OP_ID.sub("_", path).rstrip("_"),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _path_params(path, op) + query_params(op.query),
        "responses": responses,
        "security": [{"bearer": []}] if op.auth else [],
    }
    if op.description:
        doc["description"] = op.description
    if op.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": _json(refs[(op.request, "validation")], op.request_example),
        }
    return doc


_REQUEST_NODES = ("CreateFlowRequest", "FlowJobData")


def _cap(schema: dict[str, Any], limit: int) -> None:
    schema["maxLength"] = min(schema.get("maxLength", limit), limit)


def _server_choices(
    app: web.Application, defs: dict[str, Any], paths: dict[str, dict[str, Any]]
) -> None:
    """Write this server's allowed queue names, string limit and bulk cap into the document.

    They are settings, not code, so pydantic cannot know them; without them the
    document would call a request valid that the server refuses.
    """
    settings = app.get(SETTINGS)
    if settings is None:
        return
    limit = settings.max_string_length
    for name in _REQUEST_NODES:
        props = defs.get(name, {}).get("properties", {})
        if "queueName" in props:
            props["queueName"]["enum"] = list(settings.allowed_queues)
        if "name" in props:
            _cap(props["name"], limit)
    ids = defs.get("BulkRequest", {}).get("properties", {}).get("ids")
    if ids is not None:
        ids["maxItems"] = settings.bulk_max_flows
    for param in paths.get("/flows", {}).get("get", {}).get("parameters", ()):
        if param["name"] == "q":
            _cap(param["schema"], limit)


def build_document(app: web.Application, *, version: str) -> dict[str, Any]:
    routes = routes_of(app)
    ops = [op for _method, _path, op in routes if op is not None]
    refs, defs = _schemas(ops)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in routes:
        if op is None:
            log.warning("route without OpenAPI metadata", extra={"method": method, "route": path})
            entry: dict[str, Any] = {
                "summary": "undocumented",
                "x-undocumented": True,
                "parameters": _path_params(path, None),
                "responses": {"default": {"description": "undocumented"}},
            }
        else:
            entry = _operation(method, path, op, refs)
        paths.setdefault(path, {})[method.lower()] = entry
    _server_choices(app, defs, paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flowdesk API",
            "version": version,
            "description": (
                "Create and watch trees of jobs (BullMQ-style flows). Every route except "
                "`/health`, `/openapi.json` and `/docs` needs `Authorization: Bearer <token>` "
                "(issue one with `backend user create NAME`). Errors are "
                '`{"error": {"code", "message", "path"}}`.'
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an fd_... token"}
            },
        },
    }
