"""``/queues``: the allowed queues with their job counts per state."""

from __future__ import annotations

from aiohttp import web

from backend.api.context import SETTINGS, STORE
from backend.api.routes.common import json_model
from backend.api.spec import operation
from backend.schemas import QueueInfo, QueueList

routes = web.RouteTableDef()


@routes.get("/queues")
@operation(
    "List the allowed queues with per-state job counts", tag="queues", responses={200: QueueList}
)
async def list_queues(request: web.Request) -> web.Response:
    queues = request.app[SETTINGS].allowed_queues
    counts = await request.app[STORE].queue_counts(queues)
    return json_model(QueueList(items=[QueueInfo(name=q, counts=counts[q]) for q in queues]))
