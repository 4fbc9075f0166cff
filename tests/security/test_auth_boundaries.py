"""Every route and the websocket refuse bad credentials; no user sees another's flows.

Routes are not listed by hand: the test walks the application's router, so a
route added later is covered (or fails here until it is). Another user's flow
or job answers exactly like one that does not exist, so a 404 reveals nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backend.api.auth import PUBLIC_PATHS
from tests.backend.ws.wskit import Server, flow_tree, open_ws, start_server, ws_settings

BAD_HEADERS: list[dict[str, str]] = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    {"Authorization": "Bearer two words"},
    {"Authorization": "fd_" + "a" * 43},
    {"Authorization": "Bearer fd_" + "a" * 43},
    {"Authorization": "Bearer " + "x" * 8_000},  # (over 8 KiB aiohttp answers 400 itself)
    {"Authorization": "Bearer fd_\u00e9\u00e8"},
]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(ws_settings(tmp_path), execution=True)
    yield running
    await running.close()


def routes(server: Server) -> list[tuple[str, str]]:
    """(method, path template) of every route the application serves."""
    found = set()
    for route in server.server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in {"HEAD", "OPTIONS"} or path is None:
            continue
        found.add((route.method, path))
    return sorted(found)


def fill(template: str, flow_id: str, job_id: str) -> str:
    path = template.replace("{jobId}", job_id)
    return re.sub(r"\{[^}]+\}", flow_id, path)


async def call(server: Server, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    body = flow_tree("x", leaves=1) if (method, path) == ("POST", "/flows") else None
    async with server.session.request(
        method, server.base + path, headers=headers, json=body
    ) as response:
        text = await response.text()
        is_json = response.content_type == "application/json"
        return response.status, (json.loads(text) if is_json else text)


async def alice_flow(server: Server) -> tuple[str, str]:
    flow = await server.apis["alice"].create(flow_tree("alice-secret", leaves=2))
    return flow["id"], flow["rootJobId"]


async def test_the_router_walk_sees_every_documented_route(server: Server) -> None:
    found = routes(server)
    assert ("POST", "/flows") in found
    assert ("POST", "/jobs/{jobId}/retry") in found
    assert ("GET", "/ws") in found
    assert len(found) >= 15


async def test_every_private_route_refuses_bad_credentials(server: Server) -> None:
    flow_id, job_id = await alice_flow(server)
    revoked = await server.store.issue_token("bob")
    await server.store.revoke_tokens("bob")
    cases = [*BAD_HEADERS, {"Authorization": f"Bearer {revoked}"}]
    checked = 0
    for method, template in routes(server):
        if template in PUBLIC_PATHS:
            continue
        path = fill(template, flow_id, job_id)
        for headers in cases:
            status, body = await call(server, method, path, headers)
            assert status == 401, (method, path, headers, status, body)
            assert body["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 14 * len(cases)
    # nothing was changed by any refused call
    assert (await server.apis["alice"].ok("GET", f"/flows/{flow_id}"))["status"] != "cancelled"


async def test_public_routes_need_no_token(server: Server) -> None:
    for path in PUBLIC_PATHS:
        status, _body = await call(server, "GET", path, {})
        assert status == 200, path


async def test_another_users_flow_is_indistinguishable_from_a_missing_one(
    server: Server,
) -> None:
    flow_id, job_id = await alice_flow(server)
    await server.apis["alice"].wait_flow(flow_id)
    bob = {"Authorization": f"Bearer {server.tokens['bob']}"}
    compared = 0
    for method, template in routes(server):
        if "{" not in template:
            continue
        theirs = await call(server, method, fill(template, flow_id, job_id), bob)
        missing_flow, missing_job = "0" * 32, "no-such-job"
        nothing = await call(server, method, fill(template, missing_flow, missing_job), bob)
        assert theirs[0] == nothing[0] == 404, (method, template, theirs, nothing)
        assert theirs[1]["error"]["code"] == nothing[1]["error"]["code"]
        text = str(theirs[1]).replace(flow_id, "ID").replace(job_id, "ID")
        assert text == str(nothing[1]).replace(missing_flow, "ID").replace(missing_job, "ID")
        compared += 1
    assert compared >= 8
    listed = await server.apis["bob"].ok("GET", "/flows?q=alice-secret")
    assert listed["items"] == []
    # alice's flow is untouched by bob's attempts
    assert (await server.apis["alice"].ok("GET", f"/flows/{flow_id}"))["id"] == flow_id


async def test_websocket_refuses_bad_credentials(server: Server) -> None:
    revoked = await server.store.issue_token("bob")
    await server.store.revoke_tokens("bob")
    for headers in [*BAD_HEADERS, {"Authorization": f"Bearer {revoked}"}]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await server.session.ws_connect(server.base + "/ws", headers=headers)
        assert refused.value.status == 401
    for token in ("", "fd_nope", revoked):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await server.session.ws_connect(server.base + "/ws", params={"token": token})
        assert refused.value.status == 401
    assert server.hub.clients == set()


async def test_websocket_subscription_to_another_users_flow_yields_nothing(
    server: Server,
) -> None:
    bob = await open_ws(server, server.tokens["bob"])
    flow_id, _job_id = await alice_flow(server)
    await bob.send_json({"type": "subscribe", "flowId": flow_id})
    await bob.send_json({"type": "subscribe", "flowId": "0" * 32})
    await server.apis["alice"].wait_flow(flow_id)
    frames = []
    while True:
        try:
            frames.append(json.loads((await bob.receive(timeout=1.0)).data))
        except TimeoutError:
            break
    await bob.close()
    # only the acknowledgements, alike for alice's flow and for no flow at all
    assert [f["type"] for f in frames] == ["subscription", "subscription"], frames
    assert frames[0]["data"]["flowIds"] == [flow_id]


async def test_token_lookup_is_by_hash_and_timing_safe() -> None:
    """The store looks a token up by its SHA-256 and compares digests in constant time."""
    import inspect

    from backend.store import users

    source = inspect.getsource(users.UserQueries.user_for_token)
    assert "hash_token(secret)" in source
    assert "WHERE t.token_hash = ?" in source
    assert "hmac.compare_digest" in source
    schema = (Path(users.__file__).parent / "migrations" / "0001_initial.sql").read_text()
    assert re.search(r"token_hash\s+TEXT NOT NULL UNIQUE", schema)


async def test_the_database_holds_token_hashes_only(server: Server) -> None:
    import hashlib

    token = server.tokens["alice"]
    async with server.store.db.read() as conn, conn.execute("SELECT * FROM tokens") as cursor:
        rows = [tuple(row) for row in await cursor.fetchall()]
    dump = repr(rows)
    assert token not in dump
    assert token.removeprefix("fd_")[:12] not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump
