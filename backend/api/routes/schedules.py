"""``/schedules``: flows created on a cron expression or a period, by the server.

The runner that fires them is ``backend.api.scheduler``; the rules are
``backend.domain.schedules``. A schedule's flow is validated as ``POST
/flows`` validates one (errors under ``flow.``), cron expressions and time
zones when they are given (422 naming ``cron`` or ``timezone``), and a flow
that fixes an ``opts.jobId`` is refused (409): every run would reuse it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiosqlite
from aiohttp import web

from backend.api.auth import current_user
from backend.api.context import SETTINGS, STORE
from backend.api.routes.common import json_model, new_id
from backend.api.scheduler import create_run
from backend.api.spec import operation
from backend.api.validation import read_json, validate_model, validate_tree
from backend.domain.models import Flow
from backend.domain.schedules import CatchUp, InvalidSchedule, Overlap, Schedule, Timing
from backend.errors import Conflict, ValidationError
from backend.schemas import (
    CreateScheduleRequest,
    FlowResponse,
    FlowStatus,
    ScheduleList,
    ScheduleResponse,
    UpdateScheduleRequest,
    iso,
)
from backend.settings import Settings

routes = web.RouteTableDef()

_ID = {"id": "the schedule's id"}
EXAMPLE = {
    "name": "nightly-report",
    "cron": "0 3 * * *",
    "timezone": "Europe/Paris",
    "flow": {"name": "sum", "queueName": "jobQueue", "children": [
        {"name": "echo", "queueName": "jobQueue", "data": 1}]},
    "overlap": "skip",
}  # fmt: skip


def _response(schedule: Schedule, statuses: dict[str, str]) -> ScheduleResponse:
    last = schedule.last_flow_id
    status = statuses.get(last) if last is not None else None
    return ScheduleResponse(
        id=schedule.id,
        name=schedule.name,
        cron=schedule.timing.cron,
        every=schedule.timing.every_ms,
        timezone=schedule.timing.timezone,
        flow=schedule.flow,
        overlap=schedule.overlap.value,
        catch_up=schedule.catch_up.value,
        paused=schedule.paused,
        next_run_at=iso(schedule.next_run_at) or "",
        last_run_at=iso(schedule.last_run_at),
        last_flow_id=last,
        last_flow_status=None if status is None else FlowStatus(status),
        created_at=iso(schedule.created_at) or "",
        updated_at=iso(schedule.updated_at) or "",
    )


async def _answer(request: web.Request, schedules: list[Schedule]) -> list[ScheduleResponse]:
    last = [s.last_flow_id for s in schedules if s.last_flow_id is not None]
    statuses = await request.app[STORE].schedule_flow_statuses(last)
    return [_response(s, statuses) for s in schedules]


def _checked(schedule: Schedule, settings: Settings) -> Schedule:
    """``schedule`` if its timing and flow work, else a 422 naming the field."""
    try:
        schedule.timing.check()
    except InvalidSchedule as exc:
        raise ValidationError(str(exc), path=exc.field, code="invalid_schedule") from None
    try:
        tree = validate_tree(schedule.flow, settings)
    except ValidationError as exc:
        path = "flow" if exc.path is None else f"flow.{exc.path}"
        raise ValidationError(str(exc), path=path, code=exc.code) from None
    for path in tree.job_id_paths.values():
        # 409, as for a jobId already taken: every run after the first would take it again
        raise Conflict(
            "a scheduled flow cannot fix opts.jobId: every run would reuse it",
            path=f"flow.{path}",
            code="fixed_job_id",
        )
    return schedule


def _restart(schedule: Schedule, now: int) -> Schedule:
    """The schedule with its next tick planned from ``now``."""
    timing = dataclasses.replace(schedule.timing, anchor=now)
    return dataclasses.replace(
        schedule, timing=timing, next_run_at=timing.next_after(now), updated_at=now
    )


@routes.post("/schedules")
@operation(
    "Create a schedule",
    tag="schedules",
    request=CreateScheduleRequest,
    request_example=EXAMPLE,
    responses={201: ScheduleResponse},
    errors=(400, 409, 413, 415, 422),
    description=(
        "The server creates `flow` at every tick of `cron` (read in `timezone`) or every "
        "`every` milliseconds, once per tick across restarts. Each run is a normal flow named "
        "after its root, the schedule and the planned time."
    ),
)
async def create_schedule(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    raw = await read_json(request, settings)
    body = validate_model(CreateScheduleRequest, raw)
    now = store.clock()
    timing = Timing(body.cron, body.every, body.timezone, now)
    schedule = Schedule(
        id=new_id(),
        user_id=current_user(request).id,
        name=body.name,
        timing=timing,
        flow=raw["flow"],
        overlap=Overlap(body.overlap),
        catch_up=CatchUp(body.catch_up),
        paused=body.paused,
        next_run_at=0,
        created_at=now,
        updated_at=now,
    )
    schedule = await store.put_schedule(_restart(_checked(schedule, settings), now))
    [answer] = await _answer(request, [schedule])
    return json_model(answer, status=201)


@routes.get("/schedules")
@operation("List your schedules", tag="schedules", responses={200: ScheduleList})
async def list_schedules(request: web.Request) -> web.Response:
    schedules = await request.app[STORE].list_schedules(current_user(request).id)
    return json_model(ScheduleList(items=await _answer(request, schedules)))


@routes.get("/schedules/{id}")
@operation(
    "Read a schedule",
    tag="schedules",
    responses={200: ScheduleResponse},
    errors=(404,),
    path_params=_ID,
)
async def get_schedule(request: web.Request) -> web.Response:
    schedule = await request.app[STORE].get_schedule(
        current_user(request).id, request.match_info["id"]
    )
    [answer] = await _answer(request, [schedule])
    return json_model(answer)


async def _update(request: web.Request, change: Any) -> web.Response:
    schedule = await request.app[STORE].update_schedule(
        current_user(request).id, request.match_info["id"], change
    )
    [answer] = await _answer(request, [schedule])
    return json_model(answer)


@routes.patch("/schedules/{id}")
@operation(
    "Change a schedule",
    tag="schedules",
    request=UpdateScheduleRequest,
    responses={200: ScheduleResponse},
    errors=(400, 404, 409, 413, 415, 422),
    path_params=_ID,
    description=(
        "A field left out keeps its value; `cron` and `every` replace each other. A new "
        "timing plans the next tick from now."
    ),
)
async def update_schedule(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    # 404 before the body is read: another user's schedule answers as a missing one
    await store.get_schedule(current_user(request).id, request.match_info["id"])
    raw = await read_json(request, settings)
    body = validate_model(UpdateScheduleRequest, raw)
    now = store.clock()

    def change(schedule: Schedule) -> Schedule:
        timing = schedule.timing
        if body.cron is not None:
            timing = dataclasses.replace(timing, cron=body.cron, every_ms=None)
        if body.every is not None:
            timing = dataclasses.replace(timing, cron=None, every_ms=body.every)
        if body.timezone is not None:
            timing = dataclasses.replace(timing, timezone=body.timezone)
        updated = dataclasses.replace(
            schedule,
            name=body.name or schedule.name,
            timing=timing,
            flow=raw["flow"] if body.flow is not None else schedule.flow,
            overlap=schedule.overlap if body.overlap is None else Overlap(body.overlap),
            catch_up=schedule.catch_up if body.catch_up is None else CatchUp(body.catch_up),
            paused=schedule.paused if body.paused is None else body.paused,
            updated_at=now,
        )
        _checked(updated, settings)
        retimed = timing != schedule.timing or (schedule.paused and not updated.paused)
        return _restart(updated, now) if retimed else updated

    return await _update(request, change)


@routes.delete("/schedules/{id}")
@operation(
    "Delete a schedule", tag="schedules", responses={204: None}, errors=(404,), path_params=_ID
)
async def delete_schedule(request: web.Request) -> web.Response:
    await request.app[STORE].delete_schedule(current_user(request).id, request.match_info["id"])
    return web.Response(status=204)


@routes.post("/schedules/{id}/pause")
@operation(
    "Pause a schedule",
    tag="schedules",
    responses={200: ScheduleResponse},
    errors=(404,),
    path_params=_ID,
    description="No tick fires until it is resumed; ticks that fall meanwhile are skipped.",
)
async def pause_schedule(request: web.Request) -> web.Response:
    now = request.app[STORE].clock()
    return await _update(request, lambda s: dataclasses.replace(s, paused=True, updated_at=now))


@routes.post("/schedules/{id}/resume")
@operation(
    "Resume a paused schedule",
    tag="schedules",
    responses={200: ScheduleResponse},
    errors=(404,),
    path_params=_ID,
    description="The next tick is planned from now.",
)
async def resume_schedule(request: web.Request) -> web.Response:
    now = request.app[STORE].clock()

    def resume(schedule: Schedule) -> Schedule:
        if not schedule.paused:
            return schedule
        resumed = dataclasses.replace(schedule, paused=False)
        return dataclasses.replace(
            resumed, next_run_at=schedule.timing.next_after(now), updated_at=now
        )

    return await _update(request, resume)


@routes.post("/schedules/{id}/run")
@operation(
    "Run a schedule now",
    tag="schedules",
    responses={201: FlowResponse},
    errors=(404, 422),
    path_params=_ID,
    description="Creates the schedule's flow now, whatever overlap says; the next tick stays "
    "as planned. 422 if the flow is no longer valid (e.g. its queue is no longer allowed).",
)
async def run_schedule(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    now = store.clock()

    async def make(conn: aiosqlite.Connection, schedule: Schedule, planned: int) -> Flow | None:
        return await create_run(conn, settings, schedule, planned, now)

    flow = await store.run_schedule_now(current_user(request).id, request.match_info["id"], make)
    if flow is None:
        raise ValidationError(
            "the schedule's flow is no longer valid", path="flow", code="invalid_schedule"
        )
    return json_model(FlowResponse.of(flow), status=201)
