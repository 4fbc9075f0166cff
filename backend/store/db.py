"""The SQLite file: opening it safely and running transactions on it.

One writer connection (:attr:`Database.conn`) does every write, and :meth:`Database.transaction`
serialises writers with an :class:`asyncio.Lock` and ``BEGIN IMMEDIATE`` (the
write lock is taken up front, so a transaction never fails half-way on a
lock upgrade). Reads go through a small pool of separate connections: under
WAL each :meth:`Database.read` block sees one committed snapshot and never
sees a writer's uncommitted rows, and reads do not wait for writes.

Durability is the point of the store, so every connection runs with
``journal_mode=WAL``, ``synchronous=FULL`` and ``foreign_keys=ON`` by default
(the ``durability`` setting "normal" trades the last commits before a power
loss for fewer fsyncs: ``synchronous=NORMAL``). The file
(and with it SQLite's ``-wal`` and ``-shm`` files, which inherit its mode) is
created readable by its owner only, because it holds every flow's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiosqlite

from backend.backoff import Backoff
from backend.errors import MigrationError
from backend.store.migrate import MIGRATIONS_DIR, migrate, user_version

BUSY_TIMEOUT_MS = 10_000
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}  # the durability setting -> the pragma
FILE_MODE = 0o600
DIR_MODE = 0o700
_WAL_RETRY = Backoff(initial=0.001, maximum=0.05, jitter=0)

T = TypeVar("T")


def create_private_file(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the owner only.

    An existing file is left in place but its mode is tightened, so a file
    created by hand or by an older version is not left world-readable.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        if os.name == "posix":
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


async def connect(path: Path, **kwargs: Any) -> aiosqlite.Connection:
    """``aiosqlite.connect(path, **kwargs)``, leaving nothing open if the caller is cancelled.

    aiosqlite opens the sqlite3 connection on a thread of its own. If the
    awaiting task is cancelled before that thread answers, aiosqlite drops
    the connection the thread then opens: it is never closed (the garbage
    collector closes it some day, and Python 3.13 warns when it does), and
    the thread may outlive the event loop. An opener that loses a race
    (a cancelled start-up, a timeout) hits exactly that window. So the
    connect runs to its end, and a cancelled caller closes what it opened
    before the cancellation goes on.
    """
    opening = asyncio.ensure_future(_aiosqlite_connect(path, kwargs))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        await _to_the_end(_close_when_open(opening))
        raise


async def _aiosqlite_connect(path: Path, kwargs: dict[str, Any]) -> aiosqlite.Connection:
    return await aiosqlite.connect(path, **kwargs)


async def _close_when_open(opening: asyncio.Future[aiosqlite.Connection]) -> None:
    await asyncio.wait([opening])
    if not opening.cancelled() and opening.exception() is None:
        await opening.result().close()


AUTO_VACUUM_INCREMENTAL = 2  # PRAGMA auto_vacuum's answer


async def _pragma(conn: aiosqlite.Connection, name: str) -> int:
    async with conn.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def _configured(path: Path, durability: str = "full") -> aiosqlite.Connection:
    """A connection to ``path`` with Flowdesk's pragmas; closed again if setting them fails."""
    # isolation_level=None: the sqlite3 module opens no implicit transactions;
    # every transaction is an explicit BEGIN in this module or in migrate.
    conn = await connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        # Pages freed by deletions (retention) can go back to the file system;
        # only a file without tables takes this (before WAL), others keep theirs.
        await conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        await _enable_wal(conn, path)
        await conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS[durability]}")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await _close_quietly([conn])
        raise
    return conn


async def _close_all(conns: Sequence[aiosqlite.Connection]) -> None:
    """Close every one of ``conns``, even if the caller is cancelled meanwhile or
    one close fails (the first failure is raised once all are closed)."""
    results = await _to_the_end(
        asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _close_quietly(conns: Sequence[aiosqlite.Connection]) -> None:
    """:func:`_close_all` on an error path: every connection is still closed,
    and the error being handled is not replaced by a failure to close."""
    with contextlib.suppress(Exception):
        await _close_all(conns)


async def _to_the_end(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` to its end even if the awaiting task is cancelled
    meanwhile (once or more), then let the cancellation go on. For the steps
    that must not stop half-way: closing the connections an open made."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


async def _enable_wal(conn: aiosqlite.Connection, path: Path) -> None:
    """Switch the file to WAL (a persistent setting, so only its first opening
    changes anything). The switch needs an exclusive lock, and SQLite reports
    a busy file at once instead of calling the busy handler, so it is retried
    here while another process or connection opens the same fresh file."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
    failures = 0
    while True:
        try:
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or loop.time() > deadline:
                raise
            failures += 1
            await asyncio.sleep(_WAL_RETRY.delay(failures))
    if row is None or str(row[0]).lower() != "wal":
        raise MigrationError(f"could not switch {path} to WAL mode (got {row and row[0]!r})")


class Database:
    """An open Flowdesk database. Build with :meth:`open`; close with :meth:`close`."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]
    ) -> None:
        self.path = path
        self.conn = writer  # the only writer; use it inside transaction() only
        # Called (synchronously, no arguments) after every committed write
        # transaction: the dispatcher and websocket hub wake on them.
        self.commit_listeners: list[Callable[[], None]] = []
        self._write_lock = asyncio.Lock()
        self._writer_task: asyncio.Task[object] | None = None
        self._all_readers = readers
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._readers.put_nowait(reader)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        migrations_dir: Path = MIGRATIONS_DIR,
        readers: int = 2,
        durability: str = "full",
    ) -> Database:
        """Create or open ``path``, set its pragmas and migrate it to the newest schema.

        ``durability`` "full" (the default) syncs the WAL on every commit, so a
        commit survives power loss; "normal" syncs at checkpoints only: a
        commit survives the process's crash, and the last ones may be lost
        with the machine's power (the database itself stays consistent).

        Raises :class:`MigrationError` if the file was written by a newer
        Flowdesk or a migration fails.
        """
        if durability not in SYNCHRONOUS:
            raise ValueError(f"durability must be one of {', '.join(SYNCHRONOUS)}")
        path = Path(path)
        create_private_file(path)
        writer = await _configured(path, durability)
        opened = [writer]
        try:
            try:
                await migrate(writer, migrations_dir)
            except MigrationError as exc:
                raise MigrationError(f"{path}: {exc}") from exc
            for _ in range(max(1, readers)):
                opened.append(await _configured(path, durability))
        except BaseException:
            await _close_quietly(opened)
            raise
        return cls(path, writer, opened[1:])

    async def close(self) -> None:
        """Close every connection (all of them, even if one fails to close),
        once the running write transaction (if any) has ended."""
        async with self._write_lock:
            await _close_all([*self._all_readers, self.conn])

    async def set_trace_callback(self, callback: Callable[[str], object]) -> None:
        """Call ``callback`` (on a connection's thread) with every SQL statement
        any connection runs, parameters expanded. For debugging, and for the
        tests that check every query's plan."""
        for conn in (self.conn, *self._all_readers):
            await conn.set_trace_callback(callback)

    async def schema_version(self) -> int:
        """The schema version the file has reached (``PRAGMA user_version``)."""
        async with self.read() as conn:
            return await user_version(conn)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed if the block ends normally,
        rolled back if it raises (or is cancelled).

        Transactions do not nest: calling ``transaction()`` (or a store write
        method) inside the block raises RuntimeError instead of deadlocking.
        """
        task = asyncio.current_task()
        if task is not None and task is self._writer_task:
            raise RuntimeError("Database.transaction() does not nest")
        async with self._write_lock:
            self._writer_task = task
            conn = self.conn
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await _finish(conn, "COMMIT")
            except BaseException:
                await _finish(conn, "ROLLBACK")
                raise
            finally:
                self._writer_task = None
        for listener in list(self.commit_listeners):
            listener()

    async def reclaim_space(self, *, pages_per_step: int = 256) -> bool:
        """Give the pages deletions freed back to the file system: incremental
        vacuum steps of ``pages_per_step`` pages (1 MiB by default), each a
        short hold of the write lock so other writers go in between, then a
        checkpoint that truncates the WAL into the smaller file.

        False (nothing done) for a file made before Flowdesk set
        ``auto_vacuum = INCREMENTAL`` on new files; :meth:`vacuum` converts one.
        """
        async with self._write_lock:
            if await _pragma(self.conn, "auto_vacuum") != AUTO_VACUUM_INCREMENTAL:
                return False
            free = await _pragma(self.conn, "freelist_count")
        # bounded: pages other writers free meanwhile wait for the next call
        for _ in range(-(-free // pages_per_step)):
            async with self._write_lock:
                # executescript steps the pragma to the end (execute frees one page per step)
                await self.conn.executescript(f"PRAGMA incremental_vacuum({pages_per_step:d});")
            await asyncio.sleep(0)
        async with self._write_lock:
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    async def vacuum(self) -> None:
        """Rewrite the whole file (VACUUM), switching it to incremental
        auto-vacuum so later :meth:`reclaim_space` calls can shrink it. Holds
        the write lock for as long as the copy takes: for ``backend prune``."""
        async with self._write_lock:
            await self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            await self.conn.execute("VACUUM")
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only snapshot: every query in the block sees the same committed state."""
        conn = await self._readers.get()
        try:
            await conn.execute("BEGIN")
            yield conn
        finally:
            try:
                await _finish(conn, "ROLLBACK")
            finally:
                self._readers.put_nowait(conn)


async def _finish(conn: aiosqlite.Connection, statement: str) -> None:
    """End the open transaction with ``statement``, even if the awaiting task
    is being cancelled.

    The statement is queued on the connection's thread before anything a later
    lock holder could queue, so the next ``BEGIN`` never finds this
    transaction open. A ``ROLLBACK`` when SQLite already rolled back (after
    some I/O errors, or a ``BEGIN`` that never ran) is not an error.
    """
    task = asyncio.ensure_future(_run(conn, statement))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


async def _run(conn: aiosqlite.Connection, statement: str) -> None:
    try:
        await conn.execute(statement)
    except sqlite3.OperationalError:
        if statement == "ROLLBACK" and not conn.in_transaction:
            return
        raise
