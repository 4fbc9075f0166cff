"""The hub's in-memory tail of the event log, so live delivery does not read SQLite.

Without it every connection read its own events from SQLite after every
commit: 50 clients meant 50 queries per commit through a pool of two reader
connections, and delivery lagged by seconds under a burst. Now one reader
(the hub) copies each commit's new events here, and a connection whose
position is inside the buffer filters it in memory.

Invariant: the buffer holds *every* logged event with ``start < seq <= head``,
in ``seq`` order (the hub only ever appends what one snapshot read showed up
to its head; see ``backend.api.hub`` for why no later commit can add an event
below it). A read after ``start`` is therefore exactly the SQLite read
(:func:`backend.store.events.events_after_for_user`) would have been, same
events, same ``scanned_to``; a read from before ``start`` gets ``None`` and
the caller falls back to SQLite.

Memory is bounded by two limits, whichever bites first: ``max_events``
events, and ``max_bytes`` of payload text (plus a fixed estimate per event).
The oldest events go first and ``start`` moves up to the last one evicted.
A limit of 0 holds nothing: every event is then read from SQLite.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable
from operator import attrgetter

from backend.store.events import LogEvent, RawEvent, UserEvents

EVENT_OVERHEAD = 200  # bytes an event costs besides its payload (object, seq, created_at)
_seq = attrgetter("seq")


def event_size(event: LogEvent) -> int:
    """What an event counts against ``max_bytes`` (payloads are mostly ASCII: 1 byte a char)."""
    return len(event.payload) + EVENT_OVERHEAD


class EventBuffer:
    """The newest events of the log, bounded (see the module docstring)."""

    def __init__(self, max_events: int, max_bytes: int, head: int = 0) -> None:
        self.max_events = max(0, max_events)
        self.max_bytes = max(0, max_bytes)
        self.start = head  # every event with start < seq <= head is held
        self.head = head
        self.bytes = 0
        self._events: list[LogEvent] = []

    def __len__(self) -> int:
        return len(self._events)

    def reset(self, head: int) -> None:
        """Forget everything; the buffer now covers nothing, ending at ``head``."""
        self._events.clear()
        self.bytes = 0
        self.start = self.head = head

    def extend(self, found: Iterable[LogEvent], scanned_to: int) -> None:
        """Append one snapshot read: every event with ``head < seq <= scanned_to``."""
        if scanned_to < self.head:
            raise ValueError(f"buffer at {self.head} cannot move back to {scanned_to}")
        last = self.head
        for event in found:
            if not last < event.seq <= scanned_to:
                raise ValueError(f"event {event.seq} out of order after {last}")
            last = event.seq
            self._events.append(event)
            self.bytes += event_size(event)
        self.head = scanned_to
        self._trim()

    def _trim(self) -> None:
        held = self._events
        drop = max(0, len(held) - self.max_events)
        freed = sum(event_size(event) for event in held[:drop])
        while drop < len(held) and self.bytes - freed > self.max_bytes:
            freed += event_size(held[drop])
            drop += 1
        if drop:
            self.start = held[drop - 1].seq
            del held[:drop]
            self.bytes -= freed

    def read(
        self, user_id: str, after: int, limit: int, flow_ids: Collection[str] | None = None
    ) -> UserEvents | None:
        """As ``events_after_for_user(user_id, after, limit, flow_ids)`` on the
        log up to ``head``, or None when events after ``after`` are no longer held."""
        if after < self.start:
            return None
        held = self._events
        found: list[RawEvent] = []
        for index in range(bisect_right(held, after, key=_seq), len(held)):
            event = held[index]
            if event.user_id == user_id and (flow_ids is None or event.flow_id in flow_ids):
                found.append(event)
                if len(found) >= limit:
                    return UserEvents(found, event.seq)
        return UserEvents(found, max(self.head, after))
