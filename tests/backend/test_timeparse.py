"""Filter times: exactly RFC 3339 date-times and epoch milliseconds, nothing guessed."""

from __future__ import annotations

import pytest

from backend.timeparse import MAX_EPOCH_MS, parse_time


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("1796112000000", 1_796_112_000_000),
        ("2026-12-01T08:00:00Z", 1_796_112_000_000),
        ("2026-12-01t08:00:00z", 1_796_112_000_000),
        ("2026-12-01T09:30:00+01:30", 1_796_112_000_000),
        ("2026-12-01T08:00:00.123456789Z", 1_796_112_000_123),
        ("2016-12-31T23:59:60Z", 1_483_228_800_000),  # a leap second: the next second's start
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_accepted(text: str, ms: int) -> None:
    assert parse_time(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01",  # ISO 8601, but no time and no zone: not guessed
        "2026-12-01T08:00:00",
        "2026-12-01 08:00:00Z",
        "2026-13-01T08:00:00Z",
        "2026-02-30T08:00:00Z",
        "2026-12-01T08:00:00+24:00",
        "yesterday",
        "-5",
        "1e3",
        "1234567890123456",  # 16 digits
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"date-time|epoch"):
        parse_time(text)


def test_numbers() -> None:
    assert parse_time(5.0) == 5
    assert parse_time(-5) == -5
    assert parse_time(True) is True  # left to the field's own type check
    with pytest.raises(ValueError, match="epoch milliseconds"):
        parse_time(MAX_EPOCH_MS + 1)
