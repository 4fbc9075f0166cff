"""The embedded backend the desktop starts: real server, reachable by URL and token."""

from __future__ import annotations

from dataclasses import replace

import aiohttp

from backend.embedded import start_embedded
from backend.retention import PRUNER
from backend.settings import Settings
from tests.e2e.kit import Api, node


async def run_demo(api: Api) -> dict[str, object]:
    flow = await api.create(node("root", "sum", node("a", "echo", data=3), data={"add": 1}))
    return await api.wait_flow(flow["id"])


async def test_embedded_with_redis_runs_flows(settings: Settings) -> None:
    server = await start_embedded(settings)
    try:
        assert server.mode == "redis"
        # a desktop user's finished flows stay until they ask for retention
        assert PRUNER not in server.runner.app
        async with aiohttp.ClientSession() as session:
            done = await run_demo(Api(session, server.url, server.token))
        assert done["status"] == "completed"
    finally:
        await server.close()


async def test_embedded_prunes_only_when_told(settings: Settings) -> None:
    server = await start_embedded(replace(settings, retention="on"))
    try:
        pruner = server.runner.app[PRUNER]
        assert [rule.max_age_ms for rule in pruner.settings.retention_rules] == [
            7 * 86_400_000,
            30 * 86_400_000,
        ]
    finally:
        await server.close()


async def test_embedded_without_redis_and_tokens_do_not_pile_up(settings: Settings) -> None:
    no_redis = replace(settings, redis_url="redis://127.0.0.1:1/0")
    first = await start_embedded(no_redis)
    await first.close()
    server = await start_embedded(no_redis)
    try:
        assert server.mode == "in-memory"
        async with aiohttp.ClientSession() as session:
            api = Api(session, server.url, server.token)
            done = await run_demo(api)
            assert done["status"] == "completed"
            stale = Api(session, server.url, first.token)
            status, _ = await stale.call("GET", "/flows")
            assert status == 401
    finally:
        await server.close()
