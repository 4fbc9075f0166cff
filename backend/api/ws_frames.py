"""Websocket frame text, built once for every connection that sends the same frame.

Connections of one user with the same subscription, woken by the same
commit, read the same events and send byte-identical frames: under a burst
with 50 such clients, building each frame 50 times (the JSON of every event,
then the join) was most of the server's websocket CPU. A frame is a pure
function of ``(user, subscription, after, scanned_to)``: the events of that
user in ``(after, scanned_to]`` that the subscription wants, and the log
never changes below its head. So :class:`FrameCache` keeps the last few
frames under that key, bounded by total size; a miss just builds the text.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence

from backend.store.events import RawEvent

FRAME_CACHE_CHARS = 8 * 1024 * 1024  # total text kept, at most


def message_json(event: RawEvent) -> str:
    """``{"type", "seq", "data"}`` with the stored payload spliced in undecoded."""
    return f'{{"type":{json.dumps(event.type)},"seq":{event.seq},"data":{event.payload}}}'


def frame_text(batch: Sequence[RawEvent]) -> str:
    if len(batch) == 1:
        return message_json(batch[0])
    return '{"type":"batch","items":[' + ",".join(map(message_json, batch)) + "]}"


class FrameCache:
    """The most recent frames by key, oldest dropped first beyond ``max_chars`` in all."""

    def __init__(self, max_chars: int = FRAME_CACHE_CHARS) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self.hits = 0
        self._frames: dict[Hashable, str] = {}

    def __len__(self) -> int:
        return len(self._frames)

    def text(self, key: Hashable, batch: Sequence[RawEvent]) -> str:
        """The frame under ``key``: ``frame_text(batch)``, built (and kept) if not there."""
        text = self._frames.get(key)
        if text is not None:
            self.hits += 1
            return text
        text = frame_text(batch)
        if len(text) <= self.max_chars:
            self._frames[key] = text
            self.chars += len(text)
            while self.chars > self.max_chars:
                oldest = next(iter(self._frames))
                self.chars -= len(self._frames.pop(oldest))
        return text
