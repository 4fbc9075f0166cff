"""Versioned schema migrations.

Each file ``migrations/NNNN_name.sql`` brings the schema from version
``NNNN - 1`` to ``NNNN``; ``PRAGMA user_version`` records the version a
database has reached. Migrations are applied one per transaction
(``BEGIN IMMEDIATE``), and the version is re-read inside that transaction, so
two processes opening the same file at once cannot apply a step twice. A
database whose version is newer than the newest file here was written by a
newer Flowdesk and is refused rather than guessed at.

Statements are split with :func:`sqlite3.complete_statement` and run one by
one instead of through ``executescript``, because ``executescript`` commits
any open transaction first and would make a half-applied migration permanent.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from backend.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, checked to be numbered 1, 2, ... without gaps."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name!r} is not named NNNN_name.sql")
        migrations.append(
            Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8"))
        )
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations in {directory} must be numbered 0001, 0002, ... without gaps; "
                f"found {migration.label} where {expected:04d} was expected"
            )
    return migrations


LATEST_VERSION = len(load_migrations())


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (semicolons in strings, comments
    and trigger bodies do not end a statement)."""
    statements: list[str] = []
    start = 0
    for index, char in enumerate(sql):
        if char == ";" and sqlite3.complete_statement(sql[start : index + 1]):
            statement = sql[start : index + 1].strip()
            if _has_code(statement):
                statements.append(statement)
            start = index + 1
    rest = sql[start:].strip()
    if _has_code(rest):
        raise MigrationError(f"incomplete SQL statement at the end of a migration: {rest[:80]!r}")
    return statements


def _has_code(text: str) -> bool:
    """Whether ``text`` holds anything besides whitespace, comments and ``;``."""
    index = 0
    while index < len(text):
        if text.startswith("--", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = len(text) if close < 0 else close + 2
        elif text[index].isspace() or text[index] == ";":
            index += 1
        else:
            return True
    return False


async def user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def migrate(conn: aiosqlite.Connection, migrations_dir: Path = MIGRATIONS_DIR) -> int:
    """Bring the database to the newest version in ``migrations_dir``; return it.

    ``conn`` must be in autocommit mode (``isolation_level=None``) with no
    transaction open. Raises :class:`MigrationError` for a database newer than
    the migrations, or when a migration fails (that step is rolled back).
    """
    migrations = load_migrations(migrations_dir)
    latest = len(migrations)
    while True:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            current = await user_version(conn)
            if current > latest:
                raise MigrationError(
                    f"the database has schema version {current}, but this Flowdesk knows "
                    f"versions up to {latest}: it was written by a newer Flowdesk. "
                    "Upgrade Flowdesk, or point it at another database file."
                )
            if current == latest:
                await conn.execute("COMMIT")
                return current
            step = migrations[current]
            try:
                for statement in split_statements(step.sql):
                    await conn.execute(statement)
            except sqlite3.Error as exc:
                raise MigrationError(f"migration {step.label} failed: {exc}") from exc
            # PRAGMA takes no parameters; the version is an int we produced.
            await conn.execute(f"PRAGMA user_version = {step.version:d}")
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                # A COMMIT whose awaiting task was cancelled may still run on
                # the connection's thread before this ROLLBACK: then there is
                # nothing left to roll back, and the cancellation goes on.
                with contextlib.suppress(sqlite3.OperationalError):
                    await conn.execute("ROLLBACK")
            raise
