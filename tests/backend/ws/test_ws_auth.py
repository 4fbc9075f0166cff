"""Who may connect, and who sees what: tokens, revocation, per-user isolation."""

from __future__ import annotations

import aiohttp
import pytest

from tests.backend.ws.wskit import Server, flow_tree, open_ws, wait_for


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, {}),
        ({"Authorization": "Bearer fd_not-a-real-token"}, {}),
        ({"Authorization": "Basic abc"}, {}),
        ({}, {"token": "fd_not-a-real-token"}),
    ],
)
async def test_upgrade_without_a_valid_token_is_refused_with_401_json(
    server: Server, headers: dict[str, str], query: dict[str, str]
) -> None:
    async with server.session.get(
        server.base + "/ws",
        headers={**headers, "Connection": "Upgrade", "Upgrade": "websocket",
                 "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
        params=query,
    ) as response:  # fmt: skip
        assert response.status == 401
        body = await response.json()
    assert body["error"]["code"] == "unauthorized"
    assert server.hub.clients == set()


async def test_revoked_token_is_refused_and_its_open_socket_closed(server: Server) -> None:
    token = await server.store.issue_token("bob")
    ws = await open_ws(server, token)
    other = await open_ws(server, server.tokens["alice"])
    assert await server.store.revoke_tokens("bob") == 2
    closing = await ws.receive(timeout=10)
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 1008
    assert closing.extra == "token revoked"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_ws(server, token)
    assert refused.value.status == 401
    await wait_for(lambda: len(server.hub.clients) == 1)  # alice stays connected
    assert not other.closed
    await other.close()


async def test_token_in_the_query_string_is_accepted(server: Server) -> None:
    client = await server.connect(via_query=True)
    flow = await server.apis["alice"].create(flow_tree("q", leaves=1))
    await client.until(lambda got: any(m["type"] == "flow:created" for m in got))
    assert client.events[0]["data"]["id"] == flow["id"]


async def test_each_user_receives_only_their_own_flows(running: Server) -> None:
    alice, bob = await running.connect("alice"), await running.connect("bob")
    mine = await running.apis["alice"].create(flow_tree("a", leaves=2))
    theirs = await running.apis["bob"].create(flow_tree("b", leaves=2))
    done = {mine["id"]: alice, theirs["id"]: bob}
    for flow_id, client in done.items():
        await client.until(
            lambda got, flow_id=flow_id: any(
                m["type"] == "flow:updated" and m["data"]["id"] == flow_id
                and m["data"]["status"] == "completed" for m in got
            )
        )  # fmt: skip
    assert {m["data"].get("flowId", m["data"].get("id")) for m in alice.events} == {mine["id"]}
    assert {m["data"].get("flowId", m["data"].get("id")) for m in bob.events} == {theirs["id"]}
    # bob replaying from 0 still sees only his own
    replay = await running.connect("bob", since=0)
    await replay.until_seq(bob.seqs[-1])
    assert replay.events == bob.events
