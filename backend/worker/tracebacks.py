"""Tracebacks fit to leave the worker: no file paths of the machine's install.

A failed job's traceback is stored and served to whoever owns the flow, so it
must not show where Python, the virtualenv or the task code is installed
(``/home/deploy/venvs/…``). Each frame's file is written relative to the
``sys.path`` root it was imported from (``backend/examples/tasks.py``,
``asyncio/tasks.py``); a file under no root keeps only its name. The full
traceback, paths and all, stays in the worker's own log: taskiq logs every
exception a task raises (``Exception found while executing function``).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import PurePath


def _roots() -> list[str]:
    found = {os.path.abspath(entry or os.curdir) for entry in sys.path}
    # the longest root first, so a site-packages inside a checkout wins over the checkout
    return sorted(found, key=len, reverse=True)


def relative_path(filename: str, roots: list[str]) -> str:
    """``filename`` relative to the first root that holds it, else its bare name."""
    if not os.path.isabs(filename):
        return filename  # "<string>", "<frozen importlib._bootstrap>"
    for root in roots:
        if filename.startswith(root.rstrip(os.sep) + os.sep):
            return PurePath(os.path.relpath(filename, root)).as_posix()
    return PurePath(filename).name


def _chain(exc: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    seen: set[int] = set()
    pending = [exc]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending.extend(e for e in (item.__cause__, item.__context__) if e is not None)
        pending.extend(getattr(item, "exceptions", None) or ())


def portable_traceback(error: BaseException) -> str:
    """The formatted traceback of ``error`` (and its chain) without install paths."""
    summary = traceback.TracebackException.from_exception(error)
    roots = _roots()
    for exc in _chain(summary):
        for frame in exc.stack:
            frame.filename = relative_path(frame.filename, roots)
        filename = getattr(exc, "filename", None)  # set for a SyntaxError only
        if isinstance(filename, str):
            exc.filename = relative_path(filename, roots)
    return "".join(summary.format())
