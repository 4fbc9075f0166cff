"""Times as operators write them in filters: RFC 3339 date-times or epoch milliseconds.

A filter such as ``finishedAfter`` takes either form, and the OpenAPI
document says exactly which strings are valid (``format: date-time`` or
digits), so the parser accepts exactly those: RFC 3339's grammar (the strict
profile of ISO 8601 that JSON Schema's ``date-time`` names), with its leap
second, lower-case ``t``/``z`` and any number of fraction digits, and refuses
everything else, including ISO 8601 forms RFC 3339 leaves out (a bare date,
no offset), rather than guessing a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

MAX_EPOCH_MS = 10**15 - 1  # 15 digits: beyond the year 30,000

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_DIGITS = re.compile(r"[0-9]{1,15}")


def _rfc3339_ms(text: str) -> int:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            "must be an RFC 3339 date-time such as 2026-12-01T08:00:00Z, or epoch milliseconds"
        )
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, zulu, sign, off_h, off_m = match.group(7, 8, 9, 10, 11)
    leap = second == 60  # RFC 3339 allows a leap second: it is the next second's start
    try:
        offset = timedelta(0) if zulu else timedelta(hours=int(off_h), minutes=int(off_m))
        if off_h is not None and (int(off_h) > 23 or int(off_m) > 59):
            raise ValueError("the offset is out of range")
        zone = timezone(-offset if sign == "-" else offset)
        moment = datetime(year, month, day, hour, minute, 59 if leap else second, tzinfo=zone)
    except ValueError as exc:
        raise ValueError(f"is not a valid date-time: {exc}") from None
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment += timedelta(seconds=1 if leap else 0, microseconds=micros)
    return _ms(moment)


def _ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)


def parse_time(value: object) -> object:
    """Epoch milliseconds from digits, an RFC 3339 string or a JSON integer;
    anything else is returned unchanged for the field's own type check."""
    if isinstance(value, str):
        if _DIGITS.fullmatch(value):
            return int(value)
        return _rfc3339_ms(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer: a number without a fraction
    # before 1970 is negative: a date-time string may name one, so a number may too
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EPOCH_MS:
        raise ValueError(f"must be between -{MAX_EPOCH_MS} and {MAX_EPOCH_MS} epoch milliseconds")
    return value
