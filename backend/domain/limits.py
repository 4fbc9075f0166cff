"""Flow control: which ready jobs of a controlled queue may be sent now.

Theory of operation
-------------------
An operator can pause a queue, cap how many of its jobs run at once
(``concurrency``), cap how many start per sliding window (``rateLimit``) and
cap how many run at once per ``concurrencyKey`` (``keyConcurrency``). The
backend's dispatcher is the only sender of messages, so these caps hold
across any number of workers if every send asks this module first, inside
the write transaction that records the send.

A job *holds a slot* from the moment its message is sent until it finishes:
counting only ``active`` jobs would let a burst of sent-but-not-started
messages exceed the cap. A parent in ``waiting-children`` has no message, so
it holds none. The store derives the load (:class:`QueueLoad`) from its rows,
never from memory, so the caps are exact after a restart, and a stalled job
that is retried gives its slot back by leaving the sent set.

Each candidate, in dispatch order, meets the checks in this order; the first
that refuses names why the job is held (:class:`HeldBy`)::

    paused          the queue is paused
    concurrency     sent-and-unfinished jobs of the queue >= concurrency
    keyConcurrency  sent-and-unfinished jobs with this key >= keyConcurrency
    rateLimit       sends in the last ``duration`` ms >= ``max``

Jobs without a ``concurrencyKey`` are not subject to ``keyConcurrency``.
Nothing here does I/O: the store passes the load in and writes what comes out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class HeldBy(StrEnum):
    """Why a ready job is not sent (the job's ``heldBy``)."""

    PAUSED = "paused"
    CONCURRENCY = "concurrency"
    KEY_CONCURRENCY = "keyConcurrency"
    RATE_LIMIT = "rateLimit"


@dataclass(frozen=True)
class RateLimit:
    max: int  # sends ...
    duration: int  # ... per this many milliseconds


@dataclass(frozen=True)
class QueueControls:
    """One queue's controls; the defaults mean none."""

    name: str
    paused: bool = False
    concurrency: int | None = None
    rate_limit: RateLimit | None = None
    key_concurrency: int | None = None

    @property
    def controlled(self) -> bool:
        """Whether any send of this queue must be admitted here."""
        return (
            self.paused
            or self.concurrency is not None
            or self.rate_limit is not None
            or self.key_concurrency is not None
        )


@dataclass(frozen=True)
class QueueLoad:
    """What a queue holds now, read from the store."""

    in_flight: int = 0  # jobs sent and not finished
    per_key: Mapping[str, int] = field(default_factory=dict)  # the same, per concurrency key
    sends: Sequence[int] = ()  # send times within the rate window, oldest first


@dataclass(frozen=True)
class Candidate:
    job_id: str
    queue: str
    key: str | None


@dataclass
class Admission:
    admitted: list[str] = field(default_factory=list)
    held: dict[str, HeldBy] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)  # admitted per queue


def window_sends(sends: Sequence[int], rate: RateLimit, now: int) -> list[int]:
    """The send times still inside the window that ends at ``now``."""
    return [time for time in sends if time > now - rate.duration]


class _QueueGate:
    """One queue's remaining room while a batch of candidates is admitted."""

    def __init__(self, controls: QueueControls, load: QueueLoad, now: int) -> None:
        self.controls = controls
        self.in_flight = load.in_flight
        self.per_key: Counter[str] = Counter(load.per_key)
        rate = controls.rate_limit
        self.recent = 0 if rate is None else len(window_sends(load.sends, rate, now))

    def refusal(self, key: str | None) -> HeldBy | None:
        controls = self.controls
        if controls.paused:
            return HeldBy.PAUSED
        if controls.concurrency is not None and self.in_flight >= controls.concurrency:
            return HeldBy.CONCURRENCY
        if (
            controls.key_concurrency is not None
            and key is not None
            and self.per_key[key] >= controls.key_concurrency
        ):
            return HeldBy.KEY_CONCURRENCY
        rate = controls.rate_limit
        if rate is not None and self.recent >= rate.max:
            return HeldBy.RATE_LIMIT
        return None

    def take(self, key: str | None) -> None:
        self.in_flight += 1
        self.recent += 1
        if key is not None:
            self.per_key[key] += 1


def admit(
    controls: Mapping[str, QueueControls],
    loads: Mapping[str, QueueLoad],
    candidates: Sequence[Candidate],
    now: int,
) -> Admission:
    """Split ``candidates`` (in dispatch order) into the jobs to send now and
    the jobs held, with why. Queues without controls admit everything."""
    out = Admission()
    gates: dict[str, _QueueGate] = {}
    for candidate in candidates:
        queue = controls.get(candidate.queue)
        if queue is None or not queue.controlled:
            out.admitted.append(candidate.job_id)
            continue
        gate = gates.get(candidate.queue)
        if gate is None:
            gate = gates[candidate.queue] = _QueueGate(
                queue, loads.get(candidate.queue, QueueLoad()), now
            )
        reason = gate.refusal(candidate.key)
        if reason is None:
            gate.take(candidate.key)
            out.admitted.append(candidate.job_id)
            out.sent[candidate.queue] += 1
        else:
            out.held[candidate.job_id] = reason
    return out


@dataclass(frozen=True)
class Blocked:
    """What admits nothing now: whole queues, and (queue, key) pairs."""

    queues: Mapping[str, HeldBy]
    keys: frozenset[tuple[str, str]]


def blocked(
    controls: Mapping[str, QueueControls], loads: Mapping[str, QueueLoad], now: int
) -> Blocked:
    """The queues and keys whose next job would be held whatever it is, so the
    outbox query can skip them instead of filling a batch with jobs it holds."""
    queues: dict[str, HeldBy] = {}
    keys: set[tuple[str, str]] = set()
    for name, queue in controls.items():
        if not queue.controlled:
            continue
        load = loads.get(name, QueueLoad())
        gate = _QueueGate(queue, load, now)
        reason = gate.refusal(None)
        if reason is not None:
            queues[name] = reason
        elif queue.key_concurrency is not None:
            keys.update(
                (name, key) for key, n in load.per_key.items() if n >= queue.key_concurrency
            )
    return Blocked(queues, frozenset(keys))


def next_opening(
    controls: Mapping[str, QueueControls], loads: Mapping[str, QueueLoad], now: int
) -> int | None:
    """When the earliest full rate window frees a send (epoch ms), if any is full.

    Concurrency slots free on a worker event, which wakes the dispatcher by
    itself; a rate window frees with time alone, so the dispatcher sleeps
    until then.
    """
    soonest: int | None = None
    for name, queue in controls.items():
        rate = queue.rate_limit
        if rate is None or queue.paused:
            continue
        recent = window_sends(loads.get(name, QueueLoad()).sends, rate, now)
        if len(recent) >= rate.max:
            opens = recent[len(recent) - rate.max] + rate.duration
            soonest = opens if soonest is None else min(soonest, opens)
    return soonest
