"""Work around PySide6 6.12's lost ``None`` references on CPython 3.11.

Measured here (PySide6-Essentials 6.12.0, CPython 3.11.7): every call of a
wrapped C++ method that returns ``void`` (``QLabel.setText``,
``QGraphicsItem.setPos``, ``update()``, every ``QPainter`` draw call...)
decrements ``None``'s reference count once without having incremented it.
CPython 3.12+ makes ``None`` immortal, so the bug is harmless there, but on
3.11 the count reaches zero after some tens of thousands of such calls and
the process aborts with "Fatal Python error: none_dealloc". A busy tree view
makes that many calls in seconds.

``True`` and ``False`` suffer the same way on some paths: without the guard,
1,000 live updates of the flow list model (``dataChanged.emit`` on a
``QAbstractTableModel`` subclass, in ``bench/bench_desktop.py``) abort with
"Fatal Python error: bool_dealloc", and the desktop tests once ended with
it at interpreter shutdown.

The fix is what 3.12 does: give ``None``, ``True`` and ``False`` a reference
count they can never exhaust. They are never freed anyway, so the only
effect is that they survive the buggy decrements. Call :func:`protect_none` once at start-up,
before any Qt work (``desktop.app.main``, the tests' conftest, the bench).
The real fix is a newer Python or a PySide6 release without the bug.
"""

from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 48  # far more decrements than any process can make


def protect_none() -> bool:
    """Make the refcounts of None, True and False unexhaustible on CPython < 3.12.

    Returns True if applied.
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt is the first field
        if refcount.value < _RESERVE:
            refcount.value += _RESERVE
    return True
