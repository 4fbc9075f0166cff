"""What the API tests share: the client wrapper, the response recorder, request bodies."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiohttp.typedefs import Handler

from backend.store.store import Store


@dataclass
class Seen:
    method: str
    route: str | None  # the route template, None when no route matched
    status: int
    body: Any


@dataclass
class ResponseRecorder:
    seen: list[Seen] = field(default_factory=list)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        resource = request.match_info.route.resource
        if isinstance(response, web.Response) and response.content_type == "application/json":
            assert response.text is not None
            self.seen.append(
                Seen(
                    request.method,
                    resource.canonical if resource is not None else None,
                    response.status,
                    json.loads(response.text),
                )
            )
        return response

    def check(self, doc: dict[str, Any]) -> int:
        """Validate each recorded body against its documented schema; return how many."""
        checked = 0
        for seen in self.seen:
            if seen.route == "/openapi.json":
                continue
            if seen.route is None:
                schema: Any = {"$ref": "#/components/schemas/ErrorResponse"}
            else:
                op = doc["paths"][seen.route][seen.method.lower()]
                assert str(seen.status) in op["responses"], (
                    f"{seen.method} {seen.route} answered {seen.status}, "
                    f"which is not documented: {sorted(op['responses'])}"
                )
                schema = op["responses"][str(seen.status)]["content"]["application/json"]["schema"]
            # jsonschema recurses per nesting level; deep flow trees need room
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(limit, 20_000))
            try:
                jsonschema.validate(
                    seen.body,
                    {**schema, "components": doc["components"]},
                    cls=jsonschema.Draft202012Validator,
                )
            finally:
                sys.setrecursionlimit(limit)
            checked += 1
        return checked


@dataclass
class Api:
    """A client bound to a running app plus the tokens of two users."""

    client: TestClient[web.Request, web.Application]
    store: Store
    app: web.Application
    alice: str
    bob: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.alice}"}

    async def post_flow(self, body: Any, token: str | None = None) -> Any:
        resp = await self.client.post("/flows", json=body, headers=self.auth(token))
        assert resp.status == 201, await resp.text()
        return await resp.json()


def node(name: str = "job", queue: str = "jobQueue", **extra: Any) -> dict[str, Any]:
    return {"name": name, "queueName": queue, **extra}


def chain(depth: int) -> dict[str, Any]:
    """A flow that is a single chain of ``depth`` jobs (root included)."""
    current = node("leaf")
    for level in range(depth - 1):
        current = node(f"level{level}", children=[current])
    return current
