"""Fixtures for the store tests: a real SQLite file per test, users, ids."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from backend.domain.models import User
from backend.store.store import Store
from tests.backend.store.store_helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "data" / "flowdesk.db", clock=clock) as opened:
        yield opened


@pytest.fixture
async def alice(store: Store) -> User:
    user, _token = await store.create_user("alice")
    return user


@pytest.fixture
async def bob(store: Store) -> User:
    user, _token = await store.create_user("bob")
    return user


@pytest.fixture
def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter):06d}"
