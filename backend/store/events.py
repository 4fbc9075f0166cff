"""The append-only event log that websocket replay reads.

Every state change appends its event in the *same* transaction as the change
itself, so a client replaying from ``seq`` N sees exactly the committed
changes, in commit order. ``seq`` is ``AUTOINCREMENT`` and never reused.

The websocket hub reads it whole after each commit (:func:`log_after`, one
query for every connection, into its in-memory buffer), per user when a
connection replays history older than that buffer (:func:`events_after_for_user`,
on the ``events_user_seq`` index), and prunes it by age and count. Pruning deletes a
prefix of the log and records how far it went in ``meta``
(:func:`pruned_through`): a client asking to replay from an older ``seq``
is told to reload instead of silently missing the pruned events.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

import aiosqlite

from backend.domain.models import JSON, Flow
from backend.schemas import FlowResponse
from backend.store.meta import get_meta, set_meta
from backend.store.rows import dumps


class EventType(StrEnum):
    FLOW_CREATED = "flow:created"  # payload: FlowResponse
    FLOW_UPDATED = "flow:updated"  # payload: FlowResponse
    FLOW_JOB_UPDATED = "flow:job:updated"  # payload: FlowJobResponse
    FLOW_DELETED = "flow:deleted"  # payload: {"id": flowId}
    QUEUE_UPDATED = "queue:updated"  # payload: QueueControlsResponse; flow_id "" (no flow)


@dataclass(frozen=True)
class StoredEvent:
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


async def append_rows(
    conn: aiosqlite.Connection, rows: Sequence[tuple[str, str, str, JSON]], now: int
) -> list[int]:
    """Append ``(type, flow_id, user_id, payload)`` events in one statement; returns their seqs.

    The caller holds the only write transaction, so the AUTOINCREMENT keys
    of one ``executemany`` are consecutive and end at ``last_insert_rowid()``.
    """
    if not rows:
        return []
    await conn.executemany(
        "INSERT INTO events (type, flow_id, user_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        [
            (str(kind), flow_id, user_id, dumps(payload), now)
            for kind, flow_id, user_id, payload in rows
        ],
    )
    async with conn.execute("SELECT last_insert_rowid()") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    last = int(row[0])
    return list(range(last - len(rows) + 1, last + 1))


async def events_after(conn: aiosqlite.Connection, after: int, limit: int) -> list[StoredEvent]:
    """Up to ``limit`` events with ``seq > after``, oldest first."""
    async with conn.execute(
        "SELECT seq, type, flow_id, user_id, payload, created_at FROM events "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    return [_event(row) for row in rows]


def _event(row: aiosqlite.Row) -> StoredEvent:
    return StoredEvent(
        seq=row["seq"],
        type=row["type"],
        flow_id=row["flow_id"],
        user_id=row["user_id"],
        payload=json.loads(row["payload"]),
        created_at=row["created_at"],
    )


@dataclass(frozen=True, slots=True)
class RawEvent:
    """An event whose payload stays the stored JSON text.

    The websocket hub splices ``payload`` into its frames as-is: decoding and
    re-encoding every payload for every client would cost more than reading it.
    """

    seq: int
    type: str
    flow_id: str
    payload: str
    created_at: int


@dataclass(frozen=True)
class UserEvents:
    """One read of a user's events: the events, and how far the log was scanned.

    ``scanned_to`` is the highest ``seq`` the read covered, whether or not the
    user owned it (the log head when the read was not cut off by ``limit``),
    so a reader with no events of its own still advances with the log.
    """

    events: list[RawEvent]
    scanned_to: int


@dataclass(frozen=True, slots=True)
class LogEvent(RawEvent):
    """A :class:`RawEvent` with its owner: what the websocket hub's buffer keeps."""

    user_id: str


@dataclass(frozen=True)
class LogEvents:
    """One read of the whole log: the events, and how far it was scanned
    (as :attr:`UserEvents.scanned_to`: the head when not cut off by ``limit``)."""

    events: list[LogEvent]
    scanned_to: int


async def head_seq(conn: aiosqlite.Connection) -> int:
    """The highest ``seq`` ever assigned (0 for an empty log), pruned or not."""
    async with conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'") as cursor:
        row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


async def events_after_for_user(
    conn: aiosqlite.Connection,
    user_id: str,
    after: int,
    limit: int,
    flow_ids: Collection[str] | None = None,
) -> UserEvents:
    """Up to ``limit`` of ``user_id``'s events with ``seq > after``, oldest first,
    only those of ``flow_ids`` when given. Run it inside one ``Database.read``
    block with nothing else, so ``scanned_to`` and the events share a snapshot.
    """
    head = await head_seq(conn)
    if flow_ids is None:
        sql = (
            "SELECT seq, type, flow_id, payload, created_at FROM events "
            "WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        )
        params: tuple[object, ...] = (user_id, after, limit)
    else:
        sql = (
            "SELECT seq, type, flow_id, payload, created_at FROM events "
            "WHERE user_id = ? AND seq > ? AND flow_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY seq LIMIT ?"
        )
        params = (user_id, after, json.dumps(sorted(flow_ids)), limit)
    async with conn.execute(sql, params) as cursor:
        rows = await cursor.fetchall()
    found = [
        RawEvent(row[0], row[1], row[2], row[3], row[4])  # positional: the hot path
        for row in rows
    ]
    scanned_to = found[-1].seq if len(found) >= limit else max(head, after)
    return UserEvents(found, scanned_to)


async def log_after(conn: aiosqlite.Connection, after: int, limit: int) -> LogEvents:
    """Up to ``limit`` events of every user with ``seq > after``, oldest first,
    payloads undecoded. Run it inside one ``Database.read`` block with nothing
    else, so ``scanned_to`` and the events share a snapshot: every committed
    event up to ``scanned_to`` is then in the answer (or pruned), and no later
    commit can add one below it (see ``backend.api.hub``).
    """
    head = await head_seq(conn)
    async with conn.execute(
        "SELECT seq, type, flow_id, payload, created_at, user_id FROM events "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    intern = sys.intern  # one string per flow and user, not one per event
    found = [
        LogEvent(row[0], intern(row[1]), intern(row[2]), row[3], row[4], intern(row[5]))
        for row in rows
    ]
    scanned_to = found[-1].seq if len(found) >= limit else max(head, after)
    return LogEvents(found, scanned_to)


PRUNED_THROUGH_KEY = "events_pruned_through"


async def pruned_through(conn: aiosqlite.Connection) -> int:
    """Every event with ``seq`` at or below this has been pruned (0: none ever was)."""
    value = await get_meta(conn, PRUNED_THROUGH_KEY)
    return 0 if value is None else int(value)


async def prune_target(
    conn: aiosqlite.Connection, *, now: int, max_age_ms: int | None, max_count: int | None
) -> int:
    """The ``seq`` through which the retention rules say the log may be deleted.

    Pruning always removes a prefix of the log (by ``seq``), so "is ``since``
    still replayable" is one comparison with :func:`pruned_through`. The age
    rule finds the newest too-old event by ``created_at`` (indexed); times
    follow ``seq`` closely enough that a prefix is what that rule means.
    """
    head = await head_seq(conn)
    target = 0
    if max_count is not None:
        target = max(target, head - max_count)
    if max_age_ms is not None:
        async with conn.execute(
            "SELECT seq FROM events WHERE created_at < ? ORDER BY created_at DESC LIMIT 1",
            (now - max_age_ms,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is not None:
            target = max(target, int(row[0]))
    return target


async def prune_events(conn: aiosqlite.Connection, through: int, chunk: int) -> int:
    """Delete up to ``chunk`` of the oldest events with ``seq <= through`` inside
    the caller's transaction and advance the pruned mark; returns how many.

    Chunked so that pruning a large backlog never holds the write lock long.
    """
    done = await pruned_through(conn)
    if through <= done:
        return 0
    async with conn.execute(
        "SELECT seq FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 1 OFFSET ?",
        (done, through, chunk),
    ) as cursor:
        row = await cursor.fetchone()
    upto = through if row is None else int(row[0]) - 1
    async with conn.execute("DELETE FROM events WHERE seq > ? AND seq <= ?", (done, upto)) as cur:
        deleted = cur.rowcount
    await set_meta(conn, PRUNED_THROUGH_KEY, str(upto))
    return deleted
