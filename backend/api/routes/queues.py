"""``/queues``: the allowed queues with their job counts and flow controls.

An operator pauses and resumes a queue and sets its limits here; the
dispatcher enforces them (``backend.domain.limits``, ``backend.store.admission``).
Each change is stored with a ``queue:updated`` event, so websocket clients
hear of it, and wakes the dispatcher through the commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from aiohttp import web

from backend.api.context import SETTINGS, STORE
from backend.api.routes.common import json_model
from backend.api.spec import operation
from backend.api.validation import read_model
from backend.domain.limits import QueueControls, RateLimit
from backend.errors import NotFound
from backend.schemas import QueueControlsResponse, QueueInfo, QueueList, UpdateQueueRequest

routes = web.RouteTableDef()

_NAME = {"name": "the queue's name (one of the allowed queues)"}


@routes.get("/queues")
@operation(
    "List the allowed queues with per-state job counts and their controls",
    tag="queues",
    responses={200: QueueList},
)
async def list_queues(request: web.Request) -> web.Response:
    queues = request.app[SETTINGS].allowed_queues
    store = request.app[STORE]
    counts = await store.queue_counts(queues)
    controls = await store.queue_controls(queues)
    return json_model(
        QueueList(
            items=[
                QueueInfo(**dict(QueueControlsResponse.of(controls[q])), counts=counts[q])
                for q in queues
            ]
        )
    )


def _queue_name(request: web.Request) -> str:
    """The path's queue, if allowed (checked before any body is read: 404 first)."""
    name = request.match_info["name"]
    if name not in request.app[SETTINGS].allowed_queues:
        raise NotFound(f"no queue {name!r}", path="name")
    return name


async def _update(
    request: web.Request, change: Callable[[QueueControls], QueueControls]
) -> web.Response:
    updated = await request.app[STORE].update_queue(_queue_name(request), change)
    return json_model(QueueControlsResponse.of(updated))


@routes.post("/queues/{name}/pause")
@operation(
    "Pause a queue",
    tag="queues",
    responses={200: QueueControlsResponse},
    errors=(404,),
    path_params=_NAME,
    description=(
        "No job of the queue is sent to workers until it is resumed; running jobs finish, "
        "new flows are accepted and wait (heldBy: paused). Kept across restarts."
    ),
)
async def pause_queue(request: web.Request) -> web.Response:
    return await _update(request, lambda c: dataclasses.replace(c, paused=True))


@routes.post("/queues/{name}/resume")
@operation(
    "Resume a paused queue",
    tag="queues",
    responses={200: QueueControlsResponse},
    errors=(404,),
    path_params=_NAME,
)
async def resume_queue(request: web.Request) -> web.Response:
    return await _update(request, lambda c: dataclasses.replace(c, paused=False))


@routes.patch("/queues/{name}")
@operation(
    "Set a queue's concurrency and rate limits",
    tag="queues",
    request=UpdateQueueRequest,
    responses={200: QueueControlsResponse},
    errors=(400, 404, 413, 415),
    path_params=_NAME,
    description=(
        "A field left out keeps its value; null removes that limit. Limits hold across all "
        "workers and restarts: a job counts against concurrency from when it is sent until "
        "it finishes (a parent waiting for its children counts for nothing)."
    ),
    request_example={"concurrency": 2, "rateLimit": {"max": 5, "duration": 1000}},
)
async def update_queue(request: web.Request) -> web.Response:
    _queue_name(request)
    body = await read_model(request, request.app[SETTINGS], UpdateQueueRequest)
    given = body.model_fields_set
    changes: dict[str, object] = {}
    if "concurrency" in given:
        changes["concurrency"] = body.concurrency
    if "key_concurrency" in given:
        changes["key_concurrency"] = body.key_concurrency
    if "rate_limit" in given:
        rate = body.rate_limit
        changes["rate_limit"] = None if rate is None else RateLimit(rate.max, rate.duration)
    return await _update(request, lambda c: dataclasses.replace(c, **changes))  # type: ignore[arg-type]
