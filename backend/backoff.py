"""The wait between retries of something that failed: one rule for every loop.

The worker's stream reader, the backend's event consumer, the store's switch
to WAL and the desktop's websocket all retry an operation whose failure is
usually brief (Redis restarting, a file another process is opening, a
network blip). Each waits ``initial * factor**(failures - 1)`` seconds, capped
at ``maximum``, less up to ``jitter`` of it at random so that many clients
that lost the same server do not all come back in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``initial * factor**(failures - 1)``, capped."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.2  # share of the delay randomised

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 = the first)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        return base * (1 - self.jitter * random.random())
