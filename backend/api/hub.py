"""The websocket hub: wakes connections when the event log grows, and keeps the log tidy.

Theory of operation. The ``events`` table is the only stream. The hub is
registered in ``Database.commit_listeners``; a commit only sets a flag, and
the hub's watcher task then reads the log's head ``seq`` once and wakes every
connection that is behind it. Each connection (``backend.api.ws``) reads its
own events from SQLite, after its own cursor, so a wake-up that is coalesced
with another, or arrives late, delays a client but never loses it an event,
and there is no seam between replay and live delivery: both are the same read.

Besides waking, the hub

* re-checks the tokens of open connections every ``ws_auth_check_interval``
  seconds and closes those whose token was revoked (close code 1008);
* prunes the event log every ``events_prune_interval`` seconds to
  ``events_retention_days`` and ``events_retention_count``, a chunk per
  transaction so the writer is never held for long;
* counts what ``/metrics`` reports (:class:`HubStats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from backend.settings import Settings
from backend.store import events
from backend.store.store import Store

log = logging.getLogger(__name__)

PRUNE_CHUNK = 10_000
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


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Hub:
    """One per application; see the module docstring."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.head = 0  # the log's highest seq, as last read
        self.clients: set[Client] = set()
        self.stats = HubStats()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifetime ---------------------------------------------------------

    async def start(self) -> None:
        self.head = await self.read_head()
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

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.db.commit_listeners.remove(self._dirty.set)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def cleanup_ctx(self) -> Callable[[web.Application], AsyncIterator[None]]:
        async def run(_app: web.Application) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

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
        async with self.store.db.read() as conn:
            return await events.events_after_for_user(
                conn, user_id, after, self.settings.ws_batch_max, flow_ids
            )

    async def _watch(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                head = await self.read_head()
            except Exception:
                log.exception("event=ws_head_read_failed")
                await asyncio.sleep(0.5)
                self._dirty.set()
                continue
            if head <= self.head:
                continue
            self.head = head
            for client in list(self.clients):
                if client.cursor < head:
                    client.wake()

    # -- housekeeping -------------------------------------------------------

    async def _every(self, interval: float, job: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("event=ws_housekeeping_failed job=%s", getattr(job, "__name__", job))

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
            log.info("event=events_pruned count=%d through=%d", total, through)
        return total


HUB = web.AppKey("hub", Hub)
