"""``/jobs/{jobId}``: one job by its ``jobId``, with the lines its task logged.

Logs are part of the job's response (``logs``, oldest first) rather than a
separate route, so a job-details view needs one request.
"""

from __future__ import annotations

from aiohttp import web

from backend.api.auth import current_user
from backend.api.context import STORE
from backend.api.routes.common import json_model
from backend.api.spec import operation
from backend.schemas import JobDetail

routes = web.RouteTableDef()


@routes.get("/jobs/{jobId}")
@operation(
    "Read one job with its logs",
    tag="jobs",
    responses={200: JobDetail},
    errors=(404,),
    path_params={"jobId": "the job's jobId (its taskiq task id)"},
    description="The job as in `GET /flows/{id}/jobs`, plus `logs`: every line its task "
    "logged through its context, oldest first, with the attempt that logged it.",
)
async def get_job(request: web.Request) -> web.Response:
    store, user = request.app[STORE], current_user(request)
    job_id = request.match_info["jobId"]
    job = await store.get_job(user.id, job_id)
    logs = await store.job_logs(user.id, job_id)
    return json_model(JobDetail.with_logs(job, logs))
