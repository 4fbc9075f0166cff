"""The backend inside another program: the desktop's default, zero-setup mode.

``start_embedded`` runs the same application as ``backend serve`` (API,
websocket, execution layer) on a free loopback port, with the example tasks
in an in-process worker. It uses Redis when one answers at the configured URL
and otherwise taskiq's in-memory broker, and says which in ``mode``. The
operator gets a local user and a fresh token; earlier tokens of that user are
revoked so they do not pile up across restarts. The caller talks to it only
through ``url`` and ``token``, exactly as to a remote server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.api.app import request_line_limit
from backend.api.routes.execution import EXECUTION
from backend.api.server import create_server_app
from backend.errors import NotFound
from backend.settings import Settings, load_settings
from backend.store.store import Store

log = logging.getLogger(__name__)

EXAMPLE_TASKS = ("backend.examples.tasks",)
LOCAL_USER = "operator"


@dataclass
class EmbeddedServer:
    url: str
    token: str
    mode: str  # "redis" or "in-memory"
    runner: web.AppRunner

    async def close(self) -> None:
        await self.runner.cleanup()


async def redis_reachable(url: str, wait_s: float = 1.0) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=wait_s, socket_timeout=wait_s)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def start_embedded(
    settings: Settings | None = None,
    *,
    tasks: Sequence[str] = EXAMPLE_TASKS,
    port: int = 0,
    db: Path | None = None,
) -> EmbeddedServer:
    """Start the backend in this event loop on ``127.0.0.1:port`` (0: any free port).

    ``settings`` default to the user's (``load_settings()``), so the desktop
    needs nothing of the backend but this function; ``db`` puts the database
    elsewhere (the demo screenshot uses a scratch one).
    """
    if settings is None:
        settings = load_settings()
    if db is not None:
        settings = replace(settings, db=db)
    use_redis = not settings.in_memory_broker and await redis_reachable(settings.redis_url)
    settings = replace(
        settings,
        host="127.0.0.1",
        tasks=settings.tasks or tuple(tasks),
        in_memory_broker=not use_redis,
        # a desktop user's history is theirs to keep unless they ask otherwise
        retention="off" if settings.retention == "auto" else settings.retention,
    )
    if not use_redis:
        log.warning(
            "no Redis answered; running on the in-memory broker with the in-process worker only",
            extra={"redis_url": settings.redis_url},
        )
    store = await Store.open(settings.db, durability=settings.durability)
    try:
        with contextlib.suppress(NotFound):  # the first start has no operator yet
            await store.revoke_tokens(LOCAL_USER)
        _user, token = await store.get_or_create_local_user(LOCAL_USER)
        app = create_server_app(settings, store, close_store=True)
    except BaseException:
        await store.close()
        raise
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        # aiohttp's default would wait 60 s for in-flight requests on window close
        shutdown_timeout=settings.shutdown_timeout,
        max_line_size=request_line_limit(settings),
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    mode = app[EXECUTION].mode
    log.info("embedded backend started", extra={"url": f"http://127.0.0.1:{bound}", "mode": mode})
    return EmbeddedServer(f"http://127.0.0.1:{bound}", token, mode, runner)
