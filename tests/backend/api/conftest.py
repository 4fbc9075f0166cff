"""Fixtures for API tests: a real Store in tmp_path, a real aiohttp server,
two users with tokens, and a recorder that checks every JSON response the
tests saw against the schema ``/openapi.json`` documents for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from backend.api.app import create_app
from backend.api.context import OPENAPI_DOC
from backend.settings import Settings
from backend.store.store import Store
from tests.backend.api.api_helpers import Api, ResponseRecorder

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "flowdesk.db", max_body_bytes=256 * 1024)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "flowdesk.db")
    yield opened
    await opened.close()


@pytest.fixture
async def make_api(
    aiohttp_client: AiohttpClient, store: Store
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Build and start apps over the test's store; on teardown, every JSON body
    each app answered must match the schema its ``/openapi.json`` documents."""
    made: list[tuple[web.Application, ResponseRecorder]] = []

    async def make(settings: Settings, **kwargs: Any) -> Api:
        app = create_app(settings, store, **kwargs)
        recorder = ResponseRecorder()
        app.middlewares.insert(0, recorder.middleware)
        client = await aiohttp_client(app)
        made.append((app, recorder))
        if len(made) == 1:
            _, alice = await store.create_user("alice")
            _, bob = await store.create_user("bob")
        else:
            alice, bob = await store.issue_token("alice"), await store.issue_token("bob")
        return Api(client, store, app, alice, bob)

    yield make
    for app, recorder in made:
        recorder.check(app[OPENAPI_DOC])


@pytest.fixture
async def api(make_api: Callable[..., Awaitable[Api]], settings: Settings) -> Api:
    return await make_api(settings)
