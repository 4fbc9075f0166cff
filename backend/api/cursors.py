"""Page cursors: a page's end position as the opaque text clients pass back.

A cursor is ``SEQ`` (hex) for the creation order and for unfinished jobs, or
``KEY-SEQ`` when the order has a sort key (a finish time, a duration). Keys
are shifted by :data:`KEY_OFFSET` so a negative duration (clocks disagree)
still writes as hex. Every string of ``CURSOR_PATTERN``'s shape decodes to
some position, so a client can never make the server fail with one: at
worst it gets an empty page.
"""

from __future__ import annotations

from backend.domain.search import Position

KEY_OFFSET = 1 << 48


def encode_cursor(position: Position) -> str:
    if position.key is None:
        return f"{position.seq:x}"
    return f"{position.key + KEY_OFFSET:x}-{position.seq:x}"


def decode_cursor(raw: str) -> Position:
    # the query model's pattern already holds it to one or two runs of 1-15 hex digits
    key, _, seq = raw.rpartition("-")
    return Position(int(key, 16) - KEY_OFFSET if key else None, int(seq, 16))
