"""``/stats/tasks``: per task, run-time percentiles and failure rate over a recent window."""

from __future__ import annotations

from aiohttp import web

from backend.api.context import STORE
from backend.api.query import query_of
from backend.api.routes.common import json_model
from backend.api.spec import operation
from backend.schemas import TaskStatsItem, TaskStatsList, TaskStatsQuery, iso

routes = web.RouteTableDef()


@routes.get("/stats/tasks")
@operation(
    "Run-time percentiles and failure rate per task over a recent window",
    tag="queues",
    responses={200: TaskStatsList},
    query=TaskStatsQuery,
    errors=(422,),
    description=(
        "Every job that finished (completed, or failed for good) in the last `window` "
        "seconds, every user's, grouped by task name: counts, `failureRate`, and the "
        "p50/p95 of its run time. Read from the event log, so bounded by its retention."
    ),
)
async def task_stats(request: web.Request) -> web.Response:
    query = query_of(request, TaskStatsQuery)
    store = request.app[STORE]
    since = store.clock() - query.window * 1000
    stats = await store.task_stats(since)
    return json_model(
        TaskStatsList(
            window=query.window,
            since=iso(since) or "",
            items=[TaskStatsItem.of(s) for s in stats],
        )
    )
