"""Regressions for what fuzzing the API found, through the real application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backend.ws.wskit import Server, start_server, ws_settings


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start_server(ws_settings(tmp_path))
    yield running
    await running.close()


async def post_raw(server: Server, body: bytes) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {server.tokens['alice']}",
               "Content-Type": "application/json"}  # fmt: skip
    async with server.session.post(server.base + "/flows", data=body, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    "body",
    [
        rb'{"name": "a", "queueName": "jobQueue", "data": "\ud800"}',
        rb'{"name": "a", "queueName": "jobQueue", "data": {"\udfff": 1}}',
        rb'{"name": "a", "queueName": "jobQueue", "children": '
        rb'[{"name": "b", "queueName": "jobQueue", "data": ["x\uDC00y"]}]}',
    ],
)
async def test_lone_surrogate_in_data_is_a_400_not_a_500(server: Server, body: bytes) -> None:
    # was: 500, UnicodeEncodeError when SQLite got the string
    status, answer = await post_raw(server, body)
    assert status == 400, answer
    error = answer["error"]
    assert isinstance(error, dict)
    assert error["code"] == "invalid_json"
    assert "surrogate" in str(error["message"])


async def test_escaped_surrogate_pair_is_an_ordinary_character(server: Server) -> None:
    status, answer = await post_raw(
        server, rb'{"name": "a", "queueName": "jobQueue", "data": "\ud83d\ude00 \u00e9"}'
    )
    assert status == 201, answer
    jobs = await server.apis["alice"].ok("GET", f"/flows/{answer['id']}/jobs")
    assert jobs["items"][0]["data"] == "\U0001f600 \u00e9"


async def test_openapi_request_schemas_name_the_allowed_queues(server: Server) -> None:
    # was: any string, so the document called requests valid that the server refuses
    async with server.session.get(server.base + "/openapi.json") as response:
        doc = await response.json()
    for name in ("CreateFlowRequest", "FlowJobData"):
        queue = doc["components"]["schemas"][name]["properties"]["queueName"]
        assert queue["enum"] == list(server.settings.allowed_queues)
