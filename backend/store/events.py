"""The append-only event log that websocket replay reads.

Every state change appends its event in the *same* transaction as the change
itself, so a client replaying from ``seq`` N sees exactly the committed
changes, in commit order. ``seq`` is ``AUTOINCREMENT`` and never reused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

import aiosqlite

from backend.domain.models import JSON, Flow
from backend.schemas import FlowResponse
from backend.store.rows import dumps


class EventType(StrEnum):
    FLOW_CREATED = "flow:created"  # payload: FlowResponse
    FLOW_UPDATED = "flow:updated"  # payload: FlowResponse
    FLOW_JOB_UPDATED = "flow:job:updated"  # payload: FlowJobResponse
    FLOW_DELETED = "flow:deleted"  # payload: {"id": flowId}


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    flow_id: str
    user_id: str
    payload: JSON
    created_at: int


def flow_payload(flow: Flow) -> JSON:
    """The wire form of a flow, as ``flow:created`` and ``flow:updated`` carry it."""
    return FlowResponse.of(flow).model_dump(mode="json", by_alias=True)


async def append_event(  # noqa: PLR0917 - positional as in docs/architecture.md
    conn: aiosqlite.Connection,
    type: str,
    flow_id: str,
    user_id: str,
    payload: JSON,
    now: int,
) -> int:
    """Append one event inside the caller's open transaction; return its ``seq``."""
    async with conn.execute(
        "INSERT INTO events (type, flow_id, user_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (str(type), flow_id, user_id, dumps(payload), now),
    ) as cursor:
        seq = cursor.lastrowid
    assert seq is not None
    return seq


async def events_after(conn: aiosqlite.Connection, after: int, limit: int) -> list[Event]:
    """Up to ``limit`` events with ``seq > after``, oldest first."""
    async with conn.execute(
        "SELECT seq, type, flow_id, user_id, payload, created_at FROM events "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    return [
        Event(
            seq=row["seq"],
            type=row["type"],
            flow_id=row["flow_id"],
            user_id=row["user_id"],
            payload=json.loads(row["payload"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]
