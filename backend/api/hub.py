"""The websocket hub: reads each commit's new events once, and keeps the log tidy.

Theory of operation. The ``events`` table is the only stream; the hub keeps
its newest events in memory (:class:`backend.api.ws_buffer.EventBuffer`, at
most ``ws_buffer_events`` events and ``ws_buffer_bytes`` of payload). The
hub is registered in ``Database.commit_listeners``; a commit only sets a
flag, and the hub's watcher task then reads every event after the buffer's
head in ONE query (:func:`backend.store.events.log_after`), appends them,
and wakes every connection that is behind the new head. Each connection
(``backend.api.ws``) reads its events after its own cursor from the buffer,
filtering by user and subscription in memory, and from SQLite only when its
cursor is older than the buffer (replay of old history). Both reads give the
same answer (same events, same ``scanned_to``), so a connection moves from
one to the other without a seam, and a wake-up that is coalesced with
another, or arrives late, delays a client but never loses it an event.

Why a snapshot read up to the head leaves no gap behind it. ``seq`` is
``AUTOINCREMENT``: an insert takes ``max(seq ever committed) + 1`` inside
its transaction, and a rolled-back transaction rolls back ``sqlite_sequence``
too, so its numbers are simply taken again. Write transactions never overlap:
``Database.transaction`` holds an ``asyncio.Lock`` around the single writer
connection, and its ``BEGIN IMMEDIATE`` takes SQLite's write lock up front,
which also serialises any writer in another process (the CLI). So
transactions commit in the order they numbered their events, and a
transaction that is still open has numbers above every committed one. A read
snapshot (one ``Database.read`` block) that sees head ``H`` in
``sqlite_sequence`` therefore sees every event with ``seq <= H`` that was ever
committed and not pruned, and no later commit can add one below ``H``: the
buffer's head may jump straight to ``H``. (Writes by another process do not
call the commit listeners; they reach clients with the next local commit,
as before.)

Besides reading the log, the hub

* re-checks the tokens of open connections every ``ws_auth_check_interval``
  seconds and closes those whose token was revoked (close code 1008);
* prunes the event log every ``events_prune_interval`` seconds to
  ``events_retention_days`` and ``events_retention_count``, a chunk per
  transaction so the writer is never held for long (the buffer may still
  hold pruned events; a connection only ever starts at a replayable ``since``);
* counts what ``/metrics`` reports (:class:`HubStats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from backend.api.context import SHUTDOWN
from backend.api.ws_buffer import EventBuffer
from backend.api.ws_frames import FrameCache
from backend.clock import now_ms
from backend.settings import Settings
from backend.shutdown import ShutdownBudget, raise_if_cancelled
from backend.store import events
from backend.store.store import Store

log = logging.getLogger(__name__)

PRUNE_CHUNK = 10_000
FILL_CHUNK = 10_000  # most events the watcher reads in one query
DAY_MS = 86_400_000


class Client(Protocol):
    """What the hub needs of a connection (``backend.api.ws.Connection``)."""

    token: str
    cursor: int

    def wake(self) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class HubStats:
    """Counters since start, for ``/metrics``."""

    connections: int = 0  # opened, ever
    events_sent: int = 0
    frames_sent: int = 0
    resyncs: Counter[str] = field(default_factory=Counter)  # by reason
    closes: Counter[str] = field(default_factory=Counter)  # closed by the server, by reason
    pruned: int = 0
    buffer_reads: int = 0  # connection reads answered from memory
    log_reads: int = 0  # connection reads that went to SQLite (older than the buffer)


class Hub:
    """One per application; see the module docstring."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.buffer = EventBuffer(settings.ws_buffer_events, settings.ws_buffer_bytes)
        self.frames = FrameCache()  # frames shared by connections that send the same
        self.clients: set[Client] = set()
        self.stats = HubStats()
        self._dirty = asyncio.Event()
        self._filling = asyncio.Lock()  # one fill at a time: each starts at the last one's head
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def head(self) -> int:
        """The log's highest seq, as last read (the buffer's head)."""
        return self.buffer.head

    # -- lifetime ---------------------------------------------------------

    async def start(self) -> None:
        self.buffer.reset(await self.read_head())
        self.store.db.commit_listeners.append(self._dirty.set)
        self._tasks = [
            asyncio.create_task(self._watch(), name="flowdesk-ws-watch"),
            asyncio.create_task(self._every(self.settings.ws_auth_check_interval,
                                            self.check_tokens), name="flowdesk-ws-auth"),
            asyncio.create_task(self._every(self.settings.events_prune_interval,
                                            self.prune), name="flowdesk-events-prune"),
        ]  # fmt: skip

    async def close_clients(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close every open connection (on application shutdown)."""
        await asyncio.gather(
            *(client.close(code, reason) for client in list(self.clients)),
            return_exceptions=True,
        )

    async def stop(self, budget: ShutdownBudget | None = None) -> None:
        """Stop the hub's tasks within ``budget`` (by default ``shutdown_timeout``)."""
        with contextlib.suppress(ValueError):
            self.store.db.commit_listeners.remove(self._dirty.set)
        budget = budget or ShutdownBudget(self.settings.shutdown_timeout)
        await budget.stop_tasks(self._tasks, what="websocket hub")
        self._tasks = []

    def cleanup_ctx(self) -> Callable[[web.Application], AsyncIterator[None]]:
        async def run(app: web.Application) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop(app[SHUTDOWN])

        return run

    # -- connections --------------------------------------------------------

    def add(self, client: Client) -> None:
        self.clients.add(client)
        self.stats.connections += 1

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    async def read_head(self) -> int:
        async with self.store.db.read() as conn:
            return await events.head_seq(conn)

    async def replayable(self, since: int) -> tuple[bool, int]:
        """``(can replay from since, head)``: false when events after ``since``
        were pruned, or ``since`` is beyond the head (another database's seq)."""
        async with self.store.db.read() as conn:
            head = await events.head_seq(conn)
            pruned = await events.pruned_through(conn)
        return pruned <= since <= head, head

    async def read(
        self, user_id: str, after: int, flow_ids: Collection[str] | None
    ) -> events.UserEvents:
        """Up to ``ws_batch_max`` of the user's events after ``after`` (only of
        ``flow_ids`` when given): from memory when the buffer still holds
        everything after ``after``, else from SQLite."""
        limit = self.settings.ws_batch_max
        found = self.buffer.read(user_id, after, limit, flow_ids)
        if found is not None:
            self.stats.buffer_reads += 1
            return found
        self.stats.log_reads += 1
        async with self.store.db.read() as conn:
            return await events.events_after_for_user(conn, user_id, after, limit, flow_ids)

    async def fill(self) -> bool:
        """Read the events after the buffer's head into it; true if the read
        was cut off at ``FILL_CHUNK`` (more are waiting)."""
        async with self._filling, self.store.db.read() as conn:
            read = await events.log_after(conn, self.buffer.head, FILL_CHUNK)
            self.buffer.extend(read.events, read.scanned_to)
        return len(read.events) >= FILL_CHUNK

    async def _watch(self) -> None:
        while True:
            raise_if_cancelled()
            await self._dirty.wait()
            self._dirty.clear()
            try:
                more = await self.fill()
            except Exception:
                log.exception("reading the event log failed")
                await asyncio.sleep(0.5)
                self._dirty.set()
                continue
            if more:
                self._dirty.set()
            head = self.head
            for client in list(self.clients):
                if client.cursor < head:
                    client.wake()

    # -- housekeeping -------------------------------------------------------

    async def _every(self, interval: float, job: Callable[[], object]) -> None:
        while True:
            raise_if_cancelled()
            await asyncio.sleep(interval)
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception(
                    "websocket housekeeping failed", extra={"job": getattr(job, "__name__", job)}
                )

    async def check_tokens(self) -> int:
        """Close connections whose token no longer resolves; returns how many."""
        verdicts: dict[str, bool] = {}
        closing = []
        for client in list(self.clients):
            if client.token not in verdicts:
                verdicts[client.token] = await self.store.user_for_token(client.token) is not None
            if not verdicts[client.token]:
                closing.append(client)
        for client in closing:
            self.stats.closes["revoked"] += 1
            await client.close(1008, "token revoked")
        return len(closing)

    async def prune(self) -> int:
        """Apply the retention rules to the event log; returns how many events went."""
        settings = self.settings
        async with self.store.db.read() as conn:
            through = await events.prune_target(
                conn,
                now=self.clock(),
                max_age_ms=int(settings.events_retention_days * DAY_MS)
                if settings.events_retention_days > 0
                else None,
                max_count=settings.events_retention_count
                if settings.events_retention_count > 0
                else None,
            )
            if through <= await events.pruned_through(conn):
                return 0
        total = 0
        while True:
            async with self.store.db.transaction() as conn:
                deleted = await events.prune_events(conn, through, PRUNE_CHUNK)
            total += deleted
            if deleted < PRUNE_CHUNK:
                break
        if total:
            self.stats.pruned += total
            log.info("events pruned", extra={"count": total, "through": through})
        return total


HUB = web.AppKey("hub", Hub)
