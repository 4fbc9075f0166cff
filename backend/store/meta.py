"""The ``meta`` table: small facts the backend keeps about itself.

Examples are the Redis epoch the monitor last saw and how far the event log
has been pruned. Every reader and writer goes through :func:`get_meta` and
:func:`set_meta`, inside the caller's transaction, so the table's shape is
known in one place.
"""

from __future__ import annotations

import aiosqlite


async def get_meta(conn: aiosqlite.Connection, key: str) -> str | None:
    """The value stored under ``key``, or None if there is none."""
    async with conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def set_meta(conn: aiosqlite.Connection, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing what was there."""
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
