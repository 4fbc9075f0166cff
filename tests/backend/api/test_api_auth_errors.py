"""Bearer auth on every private route, and the one JSON error shape for everything."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from backend.api.spec import operation
from backend.settings import Settings
from tests.backend.api.api_helpers import Api, node

PRIVATE = [
    ("GET", "/flows"),
    ("POST", "/flows"),
    ("GET", "/flows/x"),
    ("GET", "/flows/x/jobs"),
    ("GET", "/flows/x/tree"),
    ("DELETE", "/flows/x"),
    ("GET", "/jobs/x"),
    ("GET", "/queues"),
]


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic YWxpY2U6cHc=", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer a b", "malformed"),
        ("Bearer fd_not-a-real-token", "unknown"),
    ],
)
async def test_bad_credentials_are_401_on_every_private_route(
    api: Api, header: str | None, fragment: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in PRIVATE:
        resp = await api.client.request(method, path, headers=headers, json=node())
        assert resp.status == 401, (method, path)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        error = (await resp.json())["error"]
        assert error["code"] == "unauthorized"
        assert fragment in error["message"]


async def test_revoked_token_is_401_and_a_new_one_works(api: Api) -> None:
    resp = await api.client.get("/flows", headers=api.auth())
    assert resp.status == 200
    assert await api.store.revoke_tokens("alice") == 1
    resp = await api.client.get("/flows", headers=api.auth())
    assert resp.status == 401
    fresh = await api.store.issue_token("alice")
    resp = await api.client.get("/flows", headers=api.auth(fresh))
    assert resp.status == 200


async def test_scheme_is_case_insensitive(api: Api) -> None:
    resp = await api.client.get("/flows", headers={"Authorization": f"bearer {api.alice}"})
    assert resp.status == 200


async def test_public_routes_need_no_token(api: Api) -> None:
    for path in ("/health", "/openapi.json", "/docs"):
        resp = await api.client.get(path)
        assert resp.status == 200, path


async def test_unknown_route_and_wrong_method_are_json(api: Api) -> None:
    resp = await api.client.get("/nowhere", headers=api.auth())
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"

    resp = await api.client.put("/flows", headers=api.auth())
    assert resp.status == 405
    assert "POST" in resp.headers["Allow"]
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_unexpected_exception_is_a_500_without_traceback(
    make_api: Callable[..., Awaitable[Api]],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = web.RouteTableDef()

    @broken.get("/broken")
    @operation("always fails", tag="test", responses={200: None})
    async def fail(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    api = await make_api(settings, extra_routes=[broken])
    with caplog.at_level(logging.ERROR, logger="backend.api"):
        resp = await api.client.get("/broken", headers=api.auth())
    assert resp.status == 500
    text = await resp.text()
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert (await resp.json())["error"]["code"] == "internal_error"
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)
