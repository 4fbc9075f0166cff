"""``/jobs``: jobs across all of a user's flows; ``/jobs/{jobId}``: one job with its logs.

``GET /jobs`` answers "what failed in the last hour, and with which error"
without opening flows one by one: finished jobs, most recent finish first,
each naming its ``flowId``. Logs are part of one job's response (``logs``,
oldest first) rather than a separate route, so a job-details view needs one
request.
"""

from __future__ import annotations

from aiohttp import web

from backend.api.auth import current_user
from backend.api.context import STORE
from backend.api.cursors import decode_cursor, encode_cursor
from backend.api.query import query_of
from backend.api.routes.common import json_model
from backend.api.spec import operation
from backend.schemas import FlowJobResponse, JobDetail, JobPage, JobSearchQuery

routes = web.RouteTableDef()


@routes.get("/jobs")
@operation(
    "Find jobs across all your flows",
    tag="jobs",
    responses={200: JobPage},
    query=JobSearchQuery,
    description=(
        "Finished jobs, most recent finish first, then unfinished ones, newest first; every "
        "filter given must hold. Each job names its `flowId`. Pass a page's `nextCursor` "
        "back unchanged, with the same filters, for the next page."
    ),
)
async def search_jobs(request: web.Request) -> web.Response:
    query = query_of(request, JobSearchQuery)
    after = None if query.cursor is None else decode_cursor(query.cursor)
    jobs, position = await request.app[STORE].search_jobs(
        current_user(request).id, query.to_filter(), limit=query.limit, after=after
    )
    page = JobPage(
        items=[FlowJobResponse.of(job) for job in jobs],
        next_cursor=None if position is None else encode_cursor(position),
    )
    return json_model(page)


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
