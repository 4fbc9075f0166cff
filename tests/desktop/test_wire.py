"""Reading the wire: the backend's own models parse what the desktop receives.

The fixtures are built with the models and dumped as the server dumps them
(camelCase), so these tests spell no wire field of their own.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from test_state import flow_of, job_of

from backend.schemas import (
    BatchMessage,
    EventMessage,
    FlowCreatedMessage,
    FlowDeletedMessage,
    FlowJobResponse,
    FlowListQuery,
    FlowRef,
    FlowResponse,
    FlowStatus,
    FlowTreeNode,
    JobState,
    ResyncMessage,
    ResyncReason,
    WsQuery,
)
from desktop.client.errors import ClientError, ProtocolError
from desktop.client.wire import (
    attempts_allowed,
    done,
    flatten_tree,
    parse,
    parse_frame,
    wire_name,
)
from desktop.client.ws import LiveClient, ws_url


def wire(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def test_protocol_error_is_a_client_error() -> None:
    assert issubclass(ProtocolError, ClientError)
    with pytest.raises(ProtocolError, match=r"flow: status"):
        parse(FlowResponse, {**wire(flow_of()), "status": "brand-new"}, "flow")
    with pytest.raises(ProtocolError, match=r"flow: \(top\)"):
        parse(FlowResponse, [1], "flow")


def test_frames_are_one_message_or_a_batch() -> None:
    one = FlowDeletedMessage(type="flow:deleted", seq=3, data=FlowRef(id="f"))
    two = FlowCreatedMessage(type="flow:created", seq=4, data=flow_of())
    assert parse_frame(json.dumps(wire(one))) == [one]
    batch = BatchMessage(type="batch", items=[one, two])
    assert parse_frame(json.dumps(wire(batch))) == [one, two]
    resync = ResyncMessage(type="resync", seq=9, data=ResyncReason(reason="since_pruned"))
    assert parse_frame(json.dumps(wire(resync))) == [resync]
    for bad in ("not json", '{"type": "flow:created", "seq": 1, "data": {}}', '{"type": "x"}'):
        with pytest.raises(ProtocolError):
            parse_frame(bad)


def test_tree_is_flattened_in_pre_order_without_recursion() -> None:
    def node(jid: str, *nodes: FlowTreeNode) -> FlowTreeNode:
        return FlowTreeNode(**dict(job_of(jid)), nodes=list(nodes))

    tree = node("r", node("a", node("b")), node("c"))
    assert [j.job_id for j in flatten_tree(wire(tree))] == ["r", "a", "b", "c"]
    deep = wire(node("0"))
    leaf = deep
    for i in range(1, 1000):  # deeper than pydantic's recursion limit
        child = wire(node(str(i)))
        leaf[wire_name(FlowTreeNode, "nodes")] = [child]
        leaf = child
    assert len(flatten_tree(deep)) == 1000


def test_derived_numbers() -> None:
    counts = {
        JobState.COMPLETED.value: 3,
        JobState.FAILED.value: 1,
        JobState.ACTIVE.value: 2,
        JobState.CANCELLED.value: 1,
    }
    assert done(flow_of(counts=counts, total=7, status=FlowStatus.ACTIVE)) == 5
    assert attempts_allowed(job_of("x")) == 3
    assert attempts_allowed(job_of("x", opts={})) == 1  # the server's default
    assert isinstance(job_of("x"), FlowJobResponse)


def test_live_client_drops_duplicates_and_malformed_frames() -> None:
    got: list[EventMessage] = []
    resyncs: list[str] = []
    client = LiveClient("http://unused", "t", on_message=got.append, on_resync=resyncs.append)
    first = FlowCreatedMessage(type="flow:created", seq=1, data=flow_of())
    client._handle_text(json.dumps(wire(first)))
    client._handle_text(json.dumps(wire(first)))  # replayed at the seam
    client._handle_text("not json")
    client._handle_text(json.dumps({**wire(first), "seq": "two"}))
    second = first.model_copy(update={"seq": 2})
    client._handle_text(json.dumps(wire(BatchMessage(type="batch", items=[first, second]))))
    assert [m.seq for m in got] == [1, 2]
    resync = ResyncMessage(type="resync", seq=40)
    client._handle_text(json.dumps(wire(resync)))
    assert (client.last_seq, len(resyncs)) == (40, 1)


def test_query_models_take_none_for_what_is_not_set() -> None:
    """The client passes its optional arguments straight through."""
    assert FlowListQuery(cursor=None, status=None, q=None).to_query() == FlowListQuery().to_query()
    assert WsQuery(since=None, token=None).to_query() == {}
    assert ws_url("http://h:1", 7).endswith("/ws?" + urlencode(WsQuery(since=7).to_query()))
