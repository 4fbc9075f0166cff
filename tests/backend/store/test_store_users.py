"""Users and tokens: issue, look up, revoke; only hashes reach the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.domain.models import User
from backend.errors import Conflict, NotFound, ValidationError
from backend.store.store import Store
from backend.store.users import TOKEN_PREFIX, hash_token
from tests.backend.store.store_helpers import Clock


async def test_create_user_returns_user_and_a_working_token(store: Store, clock: Clock) -> None:
    user, token = await store.create_user("alice")
    assert user.name == "alice"
    assert user.created_at == clock.now
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) > 40
    assert await store.user_for_token(token) == user


async def test_duplicate_user_name_is_a_conflict(store: Store) -> None:
    await store.create_user("alice")
    with pytest.raises(Conflict) as caught:
        await store.create_user("alice")
    assert caught.value.code == "user_exists"
    assert [user.name for user, _ in await store.list_users()] == ["alice"]


async def test_blank_user_name_is_rejected(store: Store) -> None:
    with pytest.raises(ValidationError):
        await store.create_user("  ")


async def test_unknown_or_malformed_tokens_find_nobody(store: Store) -> None:
    await store.create_user("alice")
    assert await store.user_for_token("fd_not-a-real-token") is None
    assert await store.user_for_token("") is None


async def test_issue_token_adds_a_second_live_token(store: Store) -> None:
    user, first = await store.create_user("alice")
    second = await store.issue_token("alice")
    assert second != first
    assert await store.user_for_token(first) == user
    assert await store.user_for_token(second) == user
    assert await store.list_users() == [(user, 2)]


async def test_revoke_tokens_revokes_every_live_token_of_that_user_only(store: Store) -> None:
    alice, first = await store.create_user("alice")
    second = await store.issue_token("alice")
    bob, bobs = await store.create_user("bob")
    assert await store.revoke_tokens("alice") == 2
    assert await store.user_for_token(first) is None
    assert await store.user_for_token(second) is None
    assert await store.user_for_token(bobs) == bob
    assert await store.revoke_tokens("alice") == 0
    assert await store.list_users() == [(alice, 0), (bob, 1)]
    third = await store.issue_token("alice")
    assert await store.user_for_token(third) == alice


@pytest.mark.parametrize("action", ["issue_token", "revoke_tokens"])
async def test_token_actions_on_unknown_user_are_not_found(store: Store, action: str) -> None:
    with pytest.raises(NotFound):
        await getattr(store, action)("nobody")


async def test_local_user_is_created_once_and_gets_a_fresh_token_each_time(store: Store) -> None:
    user, first = await store.get_or_create_local_user("local")
    again, second = await store.get_or_create_local_user("local")
    assert again == user
    assert first != second
    assert await store.user_for_token(first) == user
    assert await store.user_for_token(second) == user


def database_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file())


async def test_only_token_hashes_are_stored(tmp_path: Path) -> None:
    path = tmp_path / "data" / "flowdesk.db"
    async with await Store.open(path) as store:
        _, token = await store.create_user("alice")
        extra = await store.issue_token("alice")
        local: tuple[User, str] = await store.get_or_create_local_user("local")
        # While open (the WAL holds the rows) and after closing (checkpointed).
        on_disk = database_bytes(path.parent)
    for content in (on_disk, database_bytes(path.parent)):
        for secret in (token, extra, local[1]):
            assert secret.encode() not in content
            assert secret.removeprefix(TOKEN_PREFIX).encode() not in content
        # The hashes are there: the search above looked at the right bytes.
        assert hash_token(token).encode() in content
