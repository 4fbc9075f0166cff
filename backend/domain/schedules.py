"""Scheduled flows: when a schedule's ticks fall, and what a due tick does.

Theory of operation
-------------------
A schedule stores the planned time of its next tick (``next_run_at``). When
the scheduler finds it due, :func:`decide` says, from the tick, the clock and
whether the last run's flow is still active, whether to create a flow and
for which planned time, and where ``next_run_at`` goes next. The store
applies that with the flow's creation in one transaction, so a tick fires
once however the backend stops and starts.

A tick is *late* when the clock is past it by more than
:data:`MISFIRE_GRACE_MS` (the backend was down, or busy): then ``catchUp``
decides, ``once`` (run one flow for the latest missed tick) or ``skip``
(run nothing and wait for the next tick). Several missed ticks never make
several flows. ``overlap`` decides a tick that falls while the previous run's
flow is still active: ``skip`` or ``allow``.

Cron expressions are evaluated by cronsim in the schedule's IANA time zone
(``zoneinfo``), so "0 3 * * *" in Europe/Paris is 03:00 Paris time on both
sides of a daylight-saving change. ``every`` ticks fall at ``anchor + k *
every`` (the anchor is the schedule's creation), whatever the zone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

MISFIRE_GRACE_MS = 10_000


class Overlap(StrEnum):
    SKIP = "skip"
    ALLOW = "allow"


class CatchUp(StrEnum):
    ONCE = "once"
    SKIP = "skip"


class InvalidSchedule(ValueError):
    """A cron expression or time zone that cannot be evaluated; ``field`` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Timing:
    """When ticks fall: ``cron`` in ``timezone``, or every ``every_ms`` from ``anchor``."""

    cron: str | None
    every_ms: int | None
    timezone: str
    anchor: int  # epoch ms

    def check(self) -> None:
        """Raise :class:`InvalidSchedule` for an expression or zone that cannot work."""
        zone = _zone(self.timezone)
        if self.cron is not None:
            _cron(self.cron, datetime.fromtimestamp(self.anchor / 1000, zone))

    def next_after(self, after: int) -> int:
        """The first tick strictly after ``after`` (epoch ms)."""
        if self.every_ms is not None:
            if after < self.anchor:
                return self.anchor + self.every_ms
            return self.anchor + ((after - self.anchor) // self.every_ms + 1) * self.every_ms
        assert self.cron is not None
        start = datetime.fromtimestamp(after / 1000, _zone(self.timezone))
        # cronsim starts at the next whole minute (or second) after ``start``
        tick = next(_cron(self.cron, start))
        return int(tick.timestamp() * 1000)

    def latest_at_or_before(self, due: int, now: int) -> int:
        """The last tick in ``[due, now]``, given that ``due`` is a tick."""
        if self.every_ms is not None:
            return due + (now - due) // self.every_ms * self.every_ms
        latest = due
        while (following := self.next_after(latest)) <= now:
            latest = following
        return latest


@functools.cache
def known_zones() -> frozenset[str]:
    """The IANA zone names this system knows (read once, on first use)."""
    return frozenset(available_timezones())


def _zone(name: str) -> ZoneInfo:
    if name not in known_zones():
        raise InvalidSchedule(f"unknown time zone {name!r}", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"unknown time zone {name!r}", field="timezone") from exc


def _cron(expression: str, start: datetime) -> CronSim:
    try:
        return CronSim(expression, start)
    except CronSimError as exc:
        raise InvalidSchedule(f"invalid cron expression: {exc}", field="cron") from exc


@dataclass(frozen=True)
class Firing:
    """What a due tick does."""

    planned: int | None  # the tick a flow is created for; None: no flow
    next_run_at: int
    skipped: str | None = None  # why no flow, when none: "overlap" or "missed"


def decide(
    timing: Timing,
    *,
    due: int,
    now: int,
    overlap: Overlap,
    catch_up: CatchUp,
    last_active: bool,
) -> Firing:
    """The decision for the tick at ``due`` (``due <= now``)."""
    latest = timing.latest_at_or_before(due, now)
    following = timing.next_after(latest)
    if now - latest > MISFIRE_GRACE_MS and catch_up is CatchUp.SKIP:
        return Firing(None, following, skipped="missed")
    if last_active and overlap is Overlap.SKIP:
        return Firing(None, following, skipped="overlap")
    return Firing(latest, following)


def iso_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Schedule:
    """A stored schedule. ``flow`` is the CreateFlowRequest each run creates."""

    id: str
    user_id: str
    name: str
    timing: Timing
    flow: dict[str, object]
    overlap: Overlap
    catch_up: CatchUp
    paused: bool
    next_run_at: int
    created_at: int
    updated_at: int
    last_run_at: int | None = None
    last_flow_id: str | None = None
