"""Every sqlite3 connection a test opens is closed by the time the test ends.

An unclosed ``sqlite3.Connection`` keeps its file descriptors (and, under
WAL, its share of the ``-shm`` index) until the garbage collector frees it,
which may be much later. Python 3.13 reports that with a ``ResourceWarning``
from the collector, so under ``filterwarnings = error`` it fails whichever
test happens to be running when the collector gets to it, not the one that
leaked; 3.11 and 3.12 say nothing at all. So the suite records every
connection as it is opened, through the ``sqlite3.connect/handle`` audit
event (raised by any ``sqlite3.connect``, on whatever thread makes it, so
aiosqlite's connections count too), and after each test checks that all of
them are closed: the same verdict on every version, on the test at fault.

An audit hook cannot be removed, so it is installed once and records only
while a :class:`Recorder` is active.
"""

from __future__ import annotations

import sqlite3
import sys
import traceback
from dataclasses import dataclass, field

_EVENT = "sqlite3.connect/handle"


@dataclass
class Opened:
    conn: sqlite3.Connection
    thread_stack: traceback.StackSummary  # where it was opened (the connecting thread)


@dataclass
class Recorder:
    opened: list[Opened] = field(default_factory=list)

    def still_open(self) -> list[Opened]:
        return [entry for entry in self.opened if _is_open(entry.conn)]


_active: Recorder | None = None
_installed = False
# Leaked connections are kept referenced for the rest of the run: collected
# later, they would raise their ResourceWarning inside an innocent test.
_leaked: list[Opened] = []


def _hook(event: str, args: tuple[object, ...]) -> None:
    recorder = _active
    if event == _EVENT and recorder is not None and isinstance(args[0], sqlite3.Connection):
        stack = traceback.StackSummary.extract(
            traceback.walk_stack(sys._getframe(1)), limit=12, lookup_lines=False
        )
        recorder.opened.append(Opened(args[0], stack))


def _is_open(conn: sqlite3.Connection) -> bool:
    # total_changes checks that the connection is open and nothing else (not
    # the thread), so this works here for aiosqlite's connections too.
    try:
        conn.total_changes  # noqa: B018
    except sqlite3.ProgrammingError:
        return False
    return True


def start() -> Recorder:
    """Record every sqlite3 connection opened from now on, in any thread."""
    global _active, _installed  # noqa: PLW0603 - the audit hook is process-wide
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    _active = Recorder()
    return _active


def stop(recorder: Recorder) -> list[Opened]:
    """Stop recording; return the connections ``recorder`` saw that are still open."""
    global _active  # noqa: PLW0603
    _active = None
    leaked = recorder.still_open()
    _leaked.extend(leaked)
    return leaked


def describe(leaked: list[Opened]) -> str:
    lines = [f"{len(leaked)} sqlite3 connection(s) opened during the test were never closed:"]
    for entry in leaked:
        frames = [f for f in entry.thread_stack if "/sqlite3/" not in f.filename]
        where = ", ".join(
            f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames[:4]
        )
        lines.append(f"  {entry.conn!r} opened at {where}")
    return "\n".join(lines)
