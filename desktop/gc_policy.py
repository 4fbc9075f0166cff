"""Keep the garbage collector's full passes off the records the window holds.

A big flow is tens of thousands of long-lived records (one pydantic model
per job, with its dicts and lists). CPython's cyclic collector walks every
tracked object on a full (generation 2) pass, which the allocations of live
updates and timeline recomputations trigger every few seconds: in
``bench/bench_desktop.py --window`` with a 20,000-job flow, gc callbacks
timed such passes at up to 340 ms (wall time, with other processes on the
two cores). ``gc.freeze()`` moves the objects
alive right after a load into the permanent generation, which full passes
skip. They are still freed by reference counting when the window drops
them (the records hold no reference cycles), so nothing is kept longer.
A full collection runs first, so no cyclic garbage is frozen with them;
it costs one pass at a moment the window is busy anyway (a flow was just
loaded; the controller does it only for flows of 1,000 jobs or more), and
later passes skip what was frozen. Freezing is done only at such loads,
never periodically: what is frozen is never collected again, so freezing
often would keep every short-lived cycle alive.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Exempt everything alive now from future full collections (call after a big load)."""
    gc.collect()
    gc.freeze()
