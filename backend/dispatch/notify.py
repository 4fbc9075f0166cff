"""Tells listeners (websockets, metrics) that events were committed.

The event log in SQLite is the truth; this only says "look again after seq
N". Listeners read the log themselves, so a missed or coalesced notification
can delay a client but never lose it an event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class CommitNotifier:
    def __init__(self) -> None:
        self.last_seq = 0
        self._listeners: list[Callable[[int], None]] = []

    def subscribe(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(last_seq)`` after each commit; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def committed(self, seqs: Iterable[int]) -> None:
        top = max(seqs, default=0)
        if top <= self.last_seq:
            return
        self.last_seq = top
        for listener in list(self._listeners):
            listener(top)
