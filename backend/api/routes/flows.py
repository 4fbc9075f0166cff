"""``/flows``: create, list, read, read as a tree, and delete flows.

Every read goes through the authenticated user's id, so another user's flow
is indistinguishable from a missing one (404 both). The tree response is
assembled as text, node by node, so a deep chain never recurses in Python.
"""

from __future__ import annotations

from aiohttp import web

from backend.api.auth import current_user
from backend.api.context import SETTINGS, STORE
from backend.api.cursors import decode_cursor, encode_cursor
from backend.api.query import query_error, query_of
from backend.api.routes.common import json_model, new_id
from backend.api.spec import operation
from backend.api.validation import read_json, validate_tree
from backend.clock import now_ms
from backend.domain.models import Job
from backend.domain.tree import flatten
from backend.errors import Conflict
from backend.schemas import (
    FLOW_QUERY_HELP,
    CreateFlowRequest,
    FlowJobResponse,
    FlowListQuery,
    FlowPage,
    FlowResponse,
    FlowTreeNode,
    JobList,
)

routes = web.RouteTableDef()

_FLOW_ID = {"id": "the flow's id"}

EXAMPLE_FLOW = {
    "name": "report",
    "queueName": "jobQueue",
    "data": {"month": "2024-05"},
    "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}},
    "children": [
        {"name": "fetch", "queueName": "webhooks", "data": {"url": "https://example.com"}},
        {
            "name": "sum",
            "queueName": "jobQueue",
            "data": [1, 2, 3],
            "opts": {"jobId": "sum-2024-05", "failParentOnFailure": True},
        },
    ],
}


@routes.post("/flows")
@operation(
    "Create a flow from a tree of jobs",
    tag="flows",
    request=CreateFlowRequest,
    request_example=EXAMPLE_FLOW,
    responses={201: FlowResponse},
    errors=(400, 409, 413, 415, 422),
    description=(
        "Validates the whole tree (schema, allowed queues, size and depth limits, unique "
        "`opts.jobId`) before storing it in one transaction. The root's `name` is the "
        "flow's name. Leaves start `waiting` (or `delayed`), every other job "
        "`waiting-children`."
    ),
)
async def create_flow(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    user = current_user(request)
    tree = validate_tree(await read_json(request, settings), settings)
    if tree.job_id_paths:
        existing = await store.existing_job_ids(list(tree.job_id_paths))
        for job_id, path in tree.job_id_paths.items():
            if job_id in existing:
                raise Conflict(
                    f"a job with jobId {job_id!r} already exists",
                    path=path,
                    code="duplicate_job_id",
                )
    flow_id = new_id()
    jobs = flatten(tree.root, flow_id, now_ms(), new_id)
    flow = await store.create_flow(user.id, flow_id, tree.root.name, jobs, tree.metadata)
    return json_model(FlowResponse.of(flow), status=201)


@routes.get("/flows")
@operation(
    "Find your flows",
    tag="flows",
    responses={200: FlowPage},
    errors=(422,),
    query=FlowListQuery,
    description=(
        "Newest first unless `sort` says otherwise; every filter given must hold. "
        + FLOW_QUERY_HELP
        + " The query's `cursor` is opaque: pass back a page's `nextCursor` unchanged, "
        "with the same filters."
    ),
)
async def list_flows(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    query = query_of(request, FlowListQuery)
    search = query.q or None
    if search is not None and len(search) > settings.max_string_length:
        raise query_error("q", f"q: is longer than {settings.max_string_length} characters")
    after = None if query.cursor is None else decode_cursor(query.cursor)
    flows, position = await store.search_flows(
        current_user(request).id, query.to_filter(), limit=query.limit, after=after
    )
    page = FlowPage(
        items=[FlowResponse.of(flow) for flow in flows],
        next_cursor=None if position is None else encode_cursor(position),
    )
    return json_model(page)


@routes.get("/flows/{id}")
@operation(
    "Read one flow", tag="flows", responses={200: FlowResponse}, errors=(404,), path_params=_FLOW_ID
)
async def get_flow(request: web.Request) -> web.Response:
    flow = await request.app[STORE].get_flow(current_user(request).id, request.match_info["id"])
    return json_model(FlowResponse.of(flow))


@routes.get("/flows/{id}/jobs")
@operation(
    "List the jobs of a flow, by depth then creation order",
    tag="flows",
    responses={200: JobList},
    errors=(404,),
    path_params=_FLOW_ID,
)
async def list_jobs(request: web.Request) -> web.Response:
    jobs = await request.app[STORE].list_jobs(current_user(request).id, request.match_info["id"])
    return json_model(JobList(items=[FlowJobResponse.of(job) for job in jobs]))


def tree_json(jobs: list[Job]) -> str:
    """The jobs as one nested ``FlowTreeNode`` document, built without recursion."""
    by_id = {job.job_id: job for job in jobs}
    root = next(job for job in jobs if job.parent_id is None)
    parts: list[str] = []
    # a stack of either a job id to open or a literal text to emit
    stack: list[tuple[bool, str]] = [(True, root.job_id)]
    while stack:
        is_job, value = stack.pop()
        if not is_job:
            parts.append(value)
            continue
        job = by_id[value]
        flat = FlowJobResponse.of(job).model_dump_json(by_alias=True)
        parts.append(flat[:-1] + ',"nodes":[')
        stack.append((False, "]}"))
        kids = [child for child in job.children if child in by_id]
        for index in range(len(kids) - 1, -1, -1):
            stack.append((True, kids[index]))
            if index:
                stack.append((False, ","))
    return "".join(parts)


@routes.get("/flows/{id}/tree")
@operation(
    "Read a flow as a nested tree (BullMQ's getFlow)",
    tag="flows",
    responses={200: FlowTreeNode},
    errors=(404,),
    path_params=_FLOW_ID,
)
async def get_tree(request: web.Request) -> web.Response:
    jobs = await request.app[STORE].list_jobs(current_user(request).id, request.match_info["id"])
    return web.Response(text=tree_json(jobs), content_type="application/json")


@routes.delete("/flows/{id}")
@operation(
    "Delete a flow and its jobs",
    tag="flows",
    responses={204: None},
    errors=(404, 409),
    path_params=_FLOW_ID,
    description="Refused with 409 `flow_active` while any job of the flow is `active`.",
)
async def delete_flow(request: web.Request) -> web.Response:
    await request.app[STORE].delete_flow(current_user(request).id, request.match_info["id"])
    return web.Response(status=204)
