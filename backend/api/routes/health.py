"""``/health``: is the server able to serve? Public, for load balancers and the desktop.

SQLite is always probed (``SELECT 1`` on a reader). Other parts (Redis, the
dispatcher) add probes to ``app[HEALTH_CHECKS]``; any failing probe turns the
answer into 503 ``degraded`` with the failing check named.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from backend.api.context import HEALTH_CHECKS, STORE, package_version
from backend.api.routes.common import json_model
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
    for name, check in request.app[HEALTH_CHECKS].items():
        checks[name] = await _probe(name, check)
    ok = all(bool(result.get("ok")) for result in checks.values())
    body = HealthResponse(
        status="ok" if ok else "degraded", version=package_version(), checks=checks
    )
    return json_model(body, status=200 if ok else 503)
