"""``now_ms``: the one wall clock of the backend and its workers.

Every stored time, event time and heartbeat is epoch milliseconds; classes
that need time take a ``clock`` (this function by default) so tests can
drive it.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the epoch (integer arithmetic, no float rounding)."""
    return time.time_ns() // 1_000_000
