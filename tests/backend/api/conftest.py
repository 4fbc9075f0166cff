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
def recorder() -> ResponseRecorder:
    return ResponseRecorder()


@pytest.fixture
def make_api(
    aiohttp_client: AiohttpClient, store: Store, recorder: ResponseRecorder
) -> Callable[..., Awaitable[Api]]:
    async def make(settings: Settings, **kwargs: Any) -> Api:
        app = create_app(settings, store, **kwargs)
        app.middlewares.insert(0, recorder.middleware)
        client = await aiohttp_client(app)
        _, alice = await store.create_user("alice")
        _, bob = await store.create_user("bob")
        return Api(client, store, app, alice, bob)

    return make


@pytest.fixture
async def api(
    make_api: Callable[..., Awaitable[Api]], settings: Settings, recorder: ResponseRecorder
) -> AsyncIterator[Api]:
    made = await make_api(settings)
    yield made
    # Every JSON body a test saw must match the schema the document promises.
    recorder.check(made.app[OPENAPI_DOC])
