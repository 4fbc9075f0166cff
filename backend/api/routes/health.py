"""``/health``: is the server able to serve? Public, for load balancers and the desktop.

SQLite is always probed (``SELECT 1`` on a reader). When the server runs the
execution layer, Redis (a ``PING``; ``mode: in-memory`` without Redis) and the
live workers are reported separately too. Other parts add probes to
``app[HEALTH_CHECKS]``; any failing probe turns the answer into 503
``degraded`` with the failing check named. No live worker is reported (with
a ``warning``) but is not a failure: the server itself can still serve.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from backend.api.context import HEALTH_CHECKS, STORE, package_version
from backend.api.routes.common import json_model
from backend.api.routes.execution import EXECUTION
from backend.api.spec import operation
from backend.schemas import HealthResponse

routes = web.RouteTableDef()
log = logging.getLogger("backend.api")


async def sqlite_check(request: web.Request) -> dict[str, Any]:
    async with request.app[STORE].db.read() as conn:
        async with conn.execute("SELECT 1") as cursor:
            row = await cursor.fetchone()
        async with conn.execute("PRAGMA user_version") as cursor:
            version = await cursor.fetchone()
    ok = row is not None and row[0] == 1
    return {"ok": ok, "schemaVersion": None if version is None else version[0]}


async def redis_check(request: web.Request) -> dict[str, Any]:
    execution = request.app[EXECUTION]
    if execution.mode != "redis":
        return {"ok": True, "mode": execution.mode}
    return {"ok": await execution.transport.ping(), "mode": execution.mode}


async def workers_check(request: web.Request) -> dict[str, Any]:
    live = await request.app[EXECUTION].registry.refresh()
    result: dict[str, Any] = {"ok": True, "live": len(live)}
    if not live:
        result["warning"] = "no live workers: flows will wait"
    return result


async def _probe(name: str, check: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await check()
    except Exception as exc:
        log.warning("health check failed", extra={"check": name, "error": repr(exc)})
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return result


@routes.get("/health")
@operation(
    "Health of the server and its dependencies",
    tag="meta",
    responses={200: HealthResponse, 503: HealthResponse},
    auth=False,
)
async def health(request: web.Request) -> web.Response:
    checks = {"sqlite": await _probe("sqlite", lambda: sqlite_check(request))}
    if EXECUTION in request.app:
        checks["redis"] = await _probe("redis", lambda: redis_check(request))
        checks["workers"] = await _probe("workers", lambda: workers_check(request))
    for name, check in request.app[HEALTH_CHECKS].items():
        checks[name] = await _probe(name, check)
    ok = all(bool(result.get("ok")) for result in checks.values())
    body = HealthResponse(
        status="ok" if ok else "degraded", version=package_version(), checks=checks
    )
    return json_model(body, status=200 if ok else 503)
