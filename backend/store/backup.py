"""Online backup of the SQLite file while the backend keeps running.

Copying the file with ``cp`` while flows run can tear a page or miss the WAL;
SQLite's backup API copies a consistent database instead. The copy is read
from ONE read transaction held for the whole backup, so every step sees the
same snapshot: the backup never restarts because a writer committed, and,
the database being in WAL mode, the backend's writer is never blocked by it
(it only keeps the WAL from being checkpointed past the snapshot until the
copy ends). Pages are copied in steps so the copy yields to other I/O.

The copy is written to a private temporary file next to ``PATH`` (mode
0600, like the database: it holds every flow's data), checked with
``PRAGMA integrity_check``, switched to a single-file journal so it needs no
``-wal`` companion, flushed to disk and only then renamed to ``PATH``: a
failed or interrupted backup never leaves a half-written file under that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backend.errors import FlowdeskError
from backend.store.db import FILE_MODE, connect

STEP_PAGES = 1024  # 4 MiB at SQLite's default page size
STEP_SLEEP = 0.005  # seconds between steps


class BackupError(FlowdeskError):
    """The backup could not be made (missing source, existing target, bad copy)."""


@dataclass(frozen=True)
class BackupResult:
    """What was written: the copy's path, size, page count and schema version."""

    path: Path
    pages: int
    size_bytes: int
    schema_version: int


def _open_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600; it must not exist yet."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish_copy(path: Path) -> tuple[int, int]:
    """Check the copy, make it a single-file database; return (pages, schema version)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {'; '.join(problems[:5])}")
        conn.execute("PRAGMA journal_mode = DELETE")
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    return pages, version


async def backup_database(
    source: Path,
    target: Path,
    *,
    overwrite: bool = False,
    step_pages: int = STEP_PAGES,
    step_sleep: float = STEP_SLEEP,
    progress: Callable[[int, int], None] | None = None,
) -> BackupResult:
    """Copy the database at ``source`` to ``target`` consistently, online.

    ``progress(remaining, total)`` (pages) is called after every step, on the
    thread that copies.

    Raises :class:`BackupError` if ``source`` is missing, ``target`` exists
    (unless ``overwrite``) or is a directory, or the copy is not intact.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.is_dir():
        raise BackupError(f"{target} is a directory; give the backup's file name")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; pass --overwrite to replace it")
    if target.resolve() == source.resolve():
        raise BackupError("the backup must not replace the database itself")
    if not target.parent.is_dir():
        raise BackupError(f"directory {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    _open_private(partial)
    try:
        await _copy(source, partial, step_pages, step_sleep, progress)
        pages, version = await asyncio.to_thread(_finish_copy, partial)
        await asyncio.to_thread(_fsync, partial)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        _fsync(target.parent)
    return BackupResult(target, pages, target.stat().st_size, version)


async def _copy(
    source: Path,
    partial: Path,
    step_pages: int,
    step_sleep: float,
    progress: Callable[[int, int], None] | None,
) -> None:
    def report(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(remaining, total)

    conn = await connect(source, isolation_level=None)
    try:
        await conn.execute("PRAGMA query_only = ON")
        await conn.execute("PRAGMA busy_timeout = 10000")
        # One read transaction for the whole copy: every step sees this snapshot.
        await conn.execute("BEGIN")
        await (await conn.execute("SELECT count(*) FROM sqlite_schema")).close()
        dest = sqlite3.connect(partial, isolation_level=None, check_same_thread=False)
        try:
            await conn.backup(dest, pages=step_pages, sleep=step_sleep, progress=report)
        except sqlite3.Error as exc:
            raise BackupError(f"backup of {source} failed: {exc}") from exc
        finally:
            dest.close()
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()
