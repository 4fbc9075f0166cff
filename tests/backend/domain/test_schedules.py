"""When ticks fall and what a due tick does, with plain values."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.domain.schedules import (
    MISFIRE_GRACE_MS,
    CatchUp,
    Firing,
    InvalidSchedule,
    Overlap,
    Timing,
    decide,
)
from backend.schemas import CRON_PATTERN

T0 = 1_700_000_000_000
EVERY = Timing(None, 2000, "UTC", T0)
PARIS = ZoneInfo("Europe/Paris")


def ms(*args: int, zone: ZoneInfo = PARIS) -> int:
    return int(datetime(*args, tzinfo=zone).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("after", "expected"),
    [(T0 - 5, T0 + 2000), (T0, T0 + 2000), (T0 + 1, T0 + 2000), (T0 + 2000, T0 + 4000)],
)
def test_every_ticks_from_the_anchor(after: int, expected: int) -> None:
    assert EVERY.next_after(after) == expected


def test_cron_is_read_in_its_time_zone_across_daylight_saving() -> None:
    nightly = Timing("0 3 * * *", None, "Europe/Paris", 0)
    # 2026-03-29: Paris moves from UTC+1 to UTC+2 at 02:00
    assert nightly.next_after(ms(2026, 3, 28, 12, 0)) == ms(2026, 3, 29, 3, 0)
    assert nightly.next_after(ms(2026, 3, 29, 3, 0)) == ms(2026, 3, 30, 3, 0)
    assert ms(2026, 3, 30, 3, 0) - ms(2026, 3, 29, 3, 0) == 24 * 3600 * 1000
    assert ms(2026, 3, 29, 3, 0) - ms(2026, 3, 28, 3, 0) == 23 * 3600 * 1000


def test_six_fields_put_seconds_first() -> None:
    every_5s = Timing("*/5 * * * * *", None, "UTC", 0)
    start = ms(2026, 1, 1, 0, 0, 1, zone=ZoneInfo("UTC"))
    assert every_5s.next_after(start) == start + 4000


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        (Timing("61 * * * *", None, "UTC", T0), "cron"),
        (Timing("not cron", None, "UTC", T0), "cron"),
        (Timing("0 3 * * *", None, "Mars/Olympus", T0), "timezone"),
        (Timing(None, 1000, "../../etc/passwd", T0), "timezone"),
    ],
)
def test_invalid_timing_names_its_field(timing: Timing, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        timing.check()
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("now", "overlap", "catch_up", "last_active", "expected"),
    [
        # on time: run the tick
        (T0 + 2000, Overlap.SKIP, CatchUp.ONCE, False, Firing(T0 + 2000, T0 + 4000)),
        # the last run still active: skip, or allow
        (T0 + 2000, Overlap.SKIP, CatchUp.ONCE, True, Firing(None, T0 + 4000, "overlap")),
        (T0 + 2000, Overlap.ALLOW, CatchUp.ONCE, True, Firing(T0 + 2000, T0 + 4000)),
        # late by less than the grace: still on time
        (
            T0 + 2000 + MISFIRE_GRACE_MS,
            Overlap.SKIP,
            CatchUp.SKIP,
            False,
            Firing(T0 + 2000 + MISFIRE_GRACE_MS, T0 + 4000 + MISFIRE_GRACE_MS),
        ),
    ],
)
def test_decide(
    now: int, overlap: Overlap, catch_up: CatchUp, last_active: bool, expected: Firing
) -> None:
    got = decide(
        EVERY, due=T0 + 2000, now=now, overlap=overlap, catch_up=catch_up, last_active=last_active
    )
    assert got == expected


def test_a_cron_tick_missed_by_a_day_runs_once_for_the_latest() -> None:
    hourly = Timing("0 * * * *", None, "UTC", 0)
    due = ms(2026, 1, 1, 0, 0, zone=ZoneInfo("UTC"))
    now = ms(2026, 1, 2, 0, 30, zone=ZoneInfo("UTC"))
    got = decide(hourly, due=due, now=now, overlap=Overlap.SKIP, catch_up=CatchUp.ONCE,
                 last_active=False)  # fmt: skip
    assert got == Firing(ms(2026, 1, 2, 0, 0, zone=ZoneInfo("UTC")), ms(2026, 1, 2, 1, 0,
                         zone=ZoneInfo("UTC")))  # fmt: skip


MINUTELY = Timing(None, 60_000, "UTC", T0)


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        # many ticks missed, the latest 30 s ago: one run, for the latest ...
        (CatchUp.ONCE, Firing(T0 + 300_000, T0 + 360_000)),
        # ... or none
        (CatchUp.SKIP, Firing(None, T0 + 360_000, "missed")),
    ],
)
def test_missed_ticks_run_once_or_not_at_all(catch_up: CatchUp, expected: Firing) -> None:
    got = decide(MINUTELY, due=T0 + 60_000, now=T0 + 330_000, overlap=Overlap.SKIP,
                 catch_up=catch_up, last_active=False)  # fmt: skip
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.from_regex(CRON_PATTERN, fullmatch=True))
def test_every_expression_the_document_allows_is_one_cronsim_evaluates(expression: str) -> None:
    timing = Timing(expression, None, "Europe/Paris", T0)
    timing.check()
    assert timing.next_after(T0) > T0
