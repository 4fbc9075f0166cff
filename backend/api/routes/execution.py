"""Operator commands over REST: cancel and retry flows, retry jobs, list workers.

Present only when the server runs the execution layer (``backend serve``, the
desktop's embedded backend); the commands themselves live in
``backend.dispatch.commands`` and answer 409 when the state forbids them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from backend.api.auth import current_user
from backend.api.context import SHUTDOWN, STORE
from backend.api.routes.common import json_model
from backend.api.spec import operation
from backend.dispatch.service import Execution
from backend.schemas import FlowResponse, WorkerList, WorkerResponse, iso
from backend.settings import Settings

EXECUTION = web.AppKey("execution", Execution)
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

routes = web.RouteTableDef()

_FLOW_ID = {"id": "the flow's id"}
_JOB_ID = {"jobId": "the job's id"}


async def _flow_response(request: web.Request, flow_id: str) -> web.Response:
    flow = await request.app[STORE].get_flow(current_user(request).id, flow_id)
    return json_model(FlowResponse.of(flow))


@routes.post("/flows/{id}/cancel")
@operation(
    "Cancel a flow",
    tag="execution",
    responses={200: FlowResponse},
    errors=(404, 409),
    path_params=_FLOW_ID,
    description=(
        "Jobs not started are cancelled and never run; running jobs are asked to stop and "
        "their late results are ignored. 409 if the flow is not active."
    ),
)
async def cancel_flow(request: web.Request) -> web.Response:
    flow_id = request.match_info["id"]
    await request.app[EXECUTION].commands.cancel_flow(current_user(request).id, flow_id)
    return await _flow_response(request, flow_id)


@routes.post("/flows/{id}/retry")
@operation(
    "Retry every failed (and cancelled) job of a flow",
    tag="execution",
    responses={200: FlowResponse},
    errors=(404, 409),
    path_params=_FLOW_ID,
    description=(
        "Retries from the point of failure: each job that failed on its own runs again with "
        "a fresh attempt budget; parents that failed because of it wait for it again. "
        "409 if nothing failed."
    ),
)
async def retry_flow(request: web.Request) -> web.Response:
    flow_id = request.match_info["id"]
    await request.app[EXECUTION].commands.retry_flow(current_user(request).id, flow_id)
    return await _flow_response(request, flow_id)


@routes.post("/jobs/{jobId}/retry")
@operation(
    "Retry a failed or cancelled job",
    tag="execution",
    responses={200: FlowResponse},
    errors=(404, 409),
    path_params=_JOB_ID,
    description=(
        "Runs the job again with a fresh attempt budget. When it completes, a parent that "
        "was stuck on it continues. Answers with the job's flow."
    ),
)
async def retry_job(request: web.Request) -> web.Response:
    flow = await request.app[EXECUTION].commands.retry_job(
        current_user(request).id, request.match_info["jobId"]
    )
    return await _flow_response(request, flow.id)


@routes.get("/workers")
@operation(
    "List live workers",
    tag="execution",
    responses={200: WorkerList},
    description="Workers whose heartbeat is recent, with their queues and task names.",
)
async def list_workers(request: web.Request) -> web.Response:
    live = await request.app[EXECUTION].registry.refresh(force=True)
    items = [
        WorkerResponse(
            id=w.id,
            host=w.host,
            pid=w.pid,
            queues=list(w.queues),
            tasks=list(w.tasks),
            started_at=iso(w.started_at) or "",
            heartbeat_at=iso(w.heartbeat_at) or "",
        )
        for w in sorted(live, key=lambda w: w.id)
    ]
    return json_model(WorkerList(items=items))


def execution_ctx(settings: Settings) -> CleanupCtx:
    """A cleanup context that runs the execution layer as long as the app."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        execution = await Execution.start(settings, app[STORE].db)
        app[EXECUTION] = execution
        try:
            yield
        finally:
            await execution.close(app[SHUTDOWN])

    return run
