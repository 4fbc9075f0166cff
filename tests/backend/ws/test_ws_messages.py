"""Client messages: subscribe / unsubscribe, and what happens to bad ones."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import TypeAdapter

from backend.api.ws import Subscription
from backend.schemas import QueueUpdatedMessage, ServerMessage
from tests.backend.ws.wskit import Message, Server, flow_tree


def kinds(messages: list[Message]) -> list[tuple[str, str]]:
    return [(m["type"], m["data"]["id"]) for m in messages]


async def test_subscribe_narrows_and_widens_the_stream(server: Server) -> None:
    api = server.apis["alice"]
    a = await api.create(flow_tree("a", leaves=1))
    b = await api.create(flow_tree("b", leaves=1))
    client = await server.connect()

    answer = await client.request({"type": "subscribe", "flowId": a["id"]})
    assert answer == {"type": "subscription",
                      "data": {"flowIds": [a["id"]], "excludedFlowIds": []}}  # fmt: skip
    await api.ok("DELETE", f"/flows/{b['id']}")
    await api.ok("DELETE", f"/flows/{a['id']}")
    await client.until(lambda got: bool(client.events))
    assert kinds(client.events) == [("flow:deleted", a["id"])]
    assert await client.quiet(0.2) == []

    answer = await client.request({"type": "subscribe"})
    assert answer["data"] == {"flowIds": None, "excludedFlowIds": []}
    c = await api.create(flow_tree("c", leaves=1))
    await client.until(lambda got: len(client.events) == 2)
    assert kinds(client.events[1:]) == [("flow:created", c["id"])]

    answer = await client.request({"type": "unsubscribe", "flowId": c["id"]})
    assert answer["data"] == {"flowIds": None, "excludedFlowIds": [c["id"]]}
    await api.ok("DELETE", f"/flows/{c['id']}")
    d = await api.create(flow_tree("d", leaves=1))
    await client.until(lambda got: len(client.events) == 3)
    assert kinds(client.events[2:]) == [("flow:created", d["id"])]

    await client.request({"type": "subscribe", "flowId": d["id"]})
    answer = await client.request({"type": "unsubscribe", "flowId": d["id"]})
    assert answer["data"] == {"flowIds": [], "excludedFlowIds": []}
    await api.ok("DELETE", f"/flows/{d['id']}")
    assert await client.quiet(0.2) == []


def test_subscription_rules() -> None:
    everything = Subscription()
    one = everything.subscribe("x")
    assert one.flows == frozenset({"x"})
    assert one.subscribe("y").flows == frozenset({"x", "y"})
    assert one.unsubscribe("x").flows == frozenset()
    assert one.subscribe(None) == everything
    muted = everything.unsubscribe("x")
    assert muted.flows is None
    assert not muted.wants("x")
    assert muted.wants("y")
    assert muted.subscribe("x").flows == frozenset({"x"})
    assert everything.unsubscribe(None).flows == frozenset()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"type": "subscribe", "flowId": 7}', "invalid_message"),
        ('{"type": "subscribe", "flowId": ""}', "invalid_message"),
        ('{"type": "subscrib"}', "unknown_type"),
        ("{}", "unknown_type"),
    ],
)
async def test_an_invalid_message_gets_an_error_and_the_socket_stays_open(
    server: Server, text: str, code: str
) -> None:
    client = await server.connect()
    await client.ws.send_str(text)
    answer = await client.until(bool)
    assert answer[0]["type"] == "error"
    assert answer[0]["data"]["code"] == code
    assert answer[0]["data"]["message"]
    assert (await client.request({"type": "subscribe"}))["type"] == "subscription"
    flow = await server.apis["alice"].create(flow_tree("after", leaves=1))
    await client.until(lambda got: bool(client.events))
    assert client.events[0]["data"]["id"] == flow["id"]


async def test_binary_messages_are_refused_with_1003(server: Server) -> None:
    client = await server.connect()
    await client.ws.send_bytes(b"\x00\x01")
    closing = await client.ws.receive(timeout=10)
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == aiohttp.WSCloseCode.UNSUPPORTED_DATA


async def test_oversized_messages_are_refused_with_1009(server: Server) -> None:
    client = await server.connect()
    big = '{"type": "subscribe", "flowId": "' + "x" * server.settings.ws_max_message_bytes + '"}'
    await client.ws.send_str(big)
    closing = await client.ws.receive(timeout=10)
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_queue_changes_reach_every_user_and_parse_with_the_wire_models(
    server: Server,
) -> None:
    alice = await server.connect("alice")
    bob = await server.connect("bob")
    await server.apis["alice"].ok("POST", "/queues/webhooks/pause")
    await server.apis["alice"].ok("PATCH", "/queues/webhooks", {"concurrency": 3})
    for client in (alice, bob):
        received = await client.until(lambda got: len(queue_messages(got)) == 2)
        frames = [TypeAdapter(ServerMessage).validate_python(m) for m in queue_messages(received)]
        first, second = (f.data for f in frames if isinstance(f, QueueUpdatedMessage))
        assert (first.name, first.paused, first.concurrency) == ("webhooks", True, None)
        assert (second.paused, second.concurrency) == (True, 3)


def queue_messages(received: list[Message]) -> list[Message]:
    return [m for m in received if m["type"] == "queue:updated"]
