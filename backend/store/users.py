"""Users and their API tokens.

A token is ``fd_`` followed by 32 random bytes (URL-safe base64). It is shown
once, when issued; only its SHA-256 is stored, so a copy of the database file
grants no access. A plain hash (not a slow password hash) is enough because
the secret has 256 bits of entropy: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import uuid
from collections.abc import Callable

import aiosqlite

from backend.domain.models import User
from backend.errors import Conflict, NotFound, ValidationError
from backend.store.db import Database
from backend.store.rows import row_to_user

TOKEN_PREFIX = "fd_"  # noqa: S105 - a public marker, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def _insert_token(conn: aiosqlite.Connection, user_id: str, now: int) -> str:
    secret = new_token()
    await conn.execute(
        "INSERT INTO tokens (id, user_id, token_hash, created_at) VALUES (?, ?, ?, ?)",
        (uuid.uuid4().hex, user_id, hash_token(secret), now),
    )
    return secret


async def _user_by_name(conn: aiosqlite.Connection, name: str) -> User | None:
    async with conn.execute(
        "SELECT id, name, created_at FROM users WHERE name = ?", (name,)
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row_to_user(row)


async def _insert_user(conn: aiosqlite.Connection, user: User) -> None:
    await conn.execute(
        "INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)",
        (user.id, user.name, user.created_at),
    )


async def _require_user(conn: aiosqlite.Connection, name: str) -> User:
    user = await _user_by_name(conn, name)
    if user is None:
        raise NotFound(f"no user named {name!r}", code="user_not_found")
    return user


class UserQueries:
    """Users and tokens; mixed into :class:`backend.store.store.Store`."""

    db: Database
    clock: Callable[[], int]

    async def create_user(self, name: str) -> tuple[User, str]:
        """A new user and its first token. Conflict if the name is taken."""
        if not name.strip():
            raise ValidationError("a user name must not be blank", path="name")
        user = User(id=uuid.uuid4().hex, name=name, created_at=self.clock())
        async with self.db.transaction() as conn:
            try:
                await _insert_user(conn, user)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"a user named {name!r} already exists", code="user_exists") from exc
            secret = await _insert_token(conn, user.id, user.created_at)
        return user, secret

    async def get_or_create_local_user(self, name: str) -> tuple[User, str]:
        """The named user (created if missing) and a fresh token: the desktop's
        embedded backend calls this at every start."""
        now = self.clock()
        async with self.db.transaction() as conn:
            user = await _user_by_name(conn, name)
            if user is None:
                user = User(id=uuid.uuid4().hex, name=name, created_at=now)
                await _insert_user(conn, user)
            secret = await _insert_token(conn, user.id, now)
        return user, secret

    async def list_users(self) -> list[tuple[User, int]]:
        """Every user, by name, with the number of its live (unrevoked) tokens."""
        async with (
            self.db.read() as conn,
            conn.execute(
                "SELECT u.id, u.name, u.created_at, "
                "(SELECT count(*) FROM tokens t "
                " WHERE t.user_id = u.id AND t.revoked_at IS NULL) AS live "
                "FROM users u ORDER BY u.name"
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [(row_to_user(row), int(row["live"])) for row in rows]

    async def issue_token(self, user_name: str) -> str:
        """Another token for an existing user. NotFound if there is no such user."""
        async with self.db.transaction() as conn:
            user = await _require_user(conn, user_name)
            return await _insert_token(conn, user.id, self.clock())

    async def revoke_tokens(self, user_name: str) -> int:
        """Revoke every live token of the user; return how many. NotFound if no such user."""
        async with self.db.transaction() as conn:
            user = await _require_user(conn, user_name)
            async with conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (self.clock(), user.id),
            ) as cursor:
                return cursor.rowcount

    async def user_for_token(self, secret: str) -> User | None:
        """The user a live token belongs to; None if it is unknown or revoked."""
        digest = hash_token(secret)
        async with (
            self.db.read() as conn,
            conn.execute(
                "SELECT t.token_hash, u.id, u.name, u.created_at "
                "FROM tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.token_hash = ? AND t.revoked_at IS NULL",
                (digest,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        return row_to_user(row)
