"""Reading the backend's wire: its own pydantic models, and what the window derives.

The wire is defined once, in :mod:`backend.schemas` (REST bodies, websocket
frames, query parameters), and the desktop parses every answer with those
models: a field renamed on one side is a type error or a
:class:`ProtocolError` on the other, never a silently empty column. This
module only adds what reading needs on the client: validation failures
turned into :class:`ProtocolError`, the tree answer flattened without
recursion, and the few numbers the window derives from a record.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from backend.schemas import (
    BatchMessage,
    FlowJobResponse,
    FlowResponse,
    FlowTreeNode,
    JobOpts,
    JobState,
    ServerFrame,
    ServerMessage,
)
from desktop.client.errors import ProtocolError

Model = TypeVar("Model", bound=BaseModel)

_FRAME: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


def _problem(what: str, exc: ValidationError) -> ProtocolError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top)"
    return ProtocolError(f"{what}: {where}: {first['msg']}")


def parse(model: type[Model], raw: object, what: str) -> Model:
    """``raw`` (decoded JSON) as ``model``, or :class:`ProtocolError` saying where it is wrong."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _problem(what, exc) from exc


def parse_frame(text: str) -> list[ServerMessage]:
    """The messages of one websocket text frame (a message or a batch), in order."""
    try:
        frame = _FRAME.validate_json(text)
    except ValidationError as exc:
        raise _problem("websocket frame", exc) from exc
    return list(frame.items) if isinstance(frame, BatchMessage) else [frame]


def flatten_tree(raw: object) -> list[FlowJobResponse]:
    """A ``FlowTreeNode`` answer (jobs nested under ``nodes``) as a pre-order list.

    Node by node rather than ``FlowTreeNode.model_validate``: a tree may be a
    thousand levels deep, beyond pydantic's recursion limit.
    """
    out: list[FlowJobResponse] = []
    stack: list[object] = [raw]
    while stack:
        node = stack.pop()
        out.append(parse(FlowJobResponse, node, "tree node"))  # leaves the nesting out
        nested = node.get(_NESTED, []) if isinstance(node, dict) else None
        if not isinstance(nested, list):
            raise ProtocolError(f"tree node: {_NESTED} must be a list")
        stack.extend(reversed(nested))
    return out


def wire_name(model: type[BaseModel], field: str) -> str:
    """How the wire spells ``model``'s ``field`` (its camelCase alias)."""
    return model.model_fields[field].alias or field


_NESTED = wire_name(FlowTreeNode, "nodes")


def done(flow: FlowResponse) -> int:
    """Jobs of the flow in a final state: the progress bar's numerator."""
    return sum(flow.counts.get(state.value, 0) for state in JobState if state.finished)


def attempts_allowed(job: FlowJobResponse) -> int:
    """``opts.attempts``, read through the request model so the default is the server's."""
    try:
        return JobOpts.model_validate(job.opts).attempts
    except ValidationError:
        return JobOpts().attempts


def dumps(model: BaseModel) -> str:
    """A model as the server expects it: camelCase, unset fields left out."""
    return json.dumps(model.model_dump(mode="json", by_alias=True, exclude_none=True))
