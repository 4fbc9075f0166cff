"""``POST /flows/bulk``: retry, cancel or delete many flows in one request.

The flows are named by id or by the same filter as ``GET /flows``. Each flow
gets the outcome its single route would have given (``flow_active`` for a
delete while a job runs, ``invalid_state`` for a retry with nothing failed),
so a client learns exactly what happened to each one. The work is done in
chunks of ``bulk_chunk`` flows, one write transaction each, so a bulk action
over thousands of flows holds the write lock only a chunk at a time and
``POST /flows`` and the dispatcher keep their turn between chunks
(``bench/bench_api.py`` measures the worst ``POST /flows`` meanwhile).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from backend.api.auth import current_user
from backend.api.context import SETTINGS, STORE
from backend.api.routes.common import json_model
from backend.api.routes.execution import EXECUTION
from backend.api.spec import operation
from backend.api.validation import read_json, validate_body
from backend.dispatch.commands import FlowCommands
from backend.domain.search import BulkAction
from backend.errors import ClientError, ValidationError
from backend.schemas import BULK_OK, BulkOutcome, BulkRequest, BulkResponse
from backend.store.store import Store

routes = web.RouteTableDef()

DRY_RUN_IDS = 100

EXAMPLE_BULK = {
    "action": "retry",
    "filter": {"status": ["failed"], "meta": {"customer": "acme"}},
    "dryRun": True,
}


async def run_bulk(  # noqa: PLR0917
    store: Store,
    commands: FlowCommands,
    user_id: str,
    action: BulkAction,
    flow_ids: list[str],
    chunk: int,
) -> list[tuple[str, ClientError | None]]:
    """Apply ``action`` to each flow, ``chunk`` flows per write transaction."""
    outcomes: list[tuple[str, ClientError | None]] = []
    for start in range(0, len(flow_ids), chunk):
        part = flow_ids[start : start + chunk]
        if action is BulkAction.DELETE:
            outcomes += await store.delete_flows(user_id, part)
        else:
            outcomes += await commands.run_many(user_id, part, action)
        await asyncio.sleep(0)  # waiting writers take the lock before our next chunk
    return outcomes


def _too_many(path: str, cap: int) -> ValidationError:
    return ValidationError(
        f"this would act on more than {cap} flows (bulk_max_flows); narrow the selection "
        "or send it in several requests",
        path=path,
        code="too_many_flows",
    )


@routes.post("/flows/bulk")
@operation(
    "Retry, cancel or delete many flows",
    tag="execution",
    request=BulkRequest,
    request_example=EXAMPLE_BULK,
    responses={200: BulkResponse},
    errors=(400, 413, 415),
    description=(
        "Names the flows by `ids` or by `filter` (the filters of `GET /flows`). Each flow "
        "gets the outcome its single route would give: `ok`, or that route's error code "
        "(`flow_not_found`, `flow_active` for a delete while a job runs, `invalid_state` "
        "when the flow's state refuses the action). `dryRun` only counts the flows and "
        "names the first 100. More than `bulk_max_flows` flows is 422 `too_many_flows`."
    ),
)
async def bulk(request: web.Request) -> web.Response:
    settings, store = request.app[SETTINGS], request.app[STORE]
    user = current_user(request)
    body = validate_body(BulkRequest, await read_json(request, settings))
    cap = settings.bulk_max_flows
    selection = body.selected_filter()
    if body.ids is not None:
        flow_ids = list(dict.fromkeys(body.ids))
        if len(flow_ids) > cap:
            raise _too_many("ids", cap)
        if body.dry_run:
            flow_ids = await store.owned_flow_ids(user.id, flow_ids)
    else:
        assert selection is not None
        limit = -1 if body.dry_run else cap + 1
        flow_ids = await store.matching_flow_ids(user.id, selection, limit)
        if not body.dry_run and len(flow_ids) > cap:
            raise _too_many("filter", cap)
    if body.dry_run:
        return json_model(
            BulkResponse(
                action=body.action,
                dry_run=True,
                matched=len(flow_ids),
                ids=flow_ids[:DRY_RUN_IDS],
                results=[],
                ok=0,
            )
        )
    commands = request.app[EXECUTION].commands
    outcomes = await run_bulk(store, commands, user.id, body.action, flow_ids, settings.bulk_chunk)
    results = [
        BulkOutcome(id=flow_id, outcome=BULK_OK)
        if error is None
        else BulkOutcome(id=flow_id, outcome=error.code, message=error.message)
        for flow_id, error in outcomes
    ]
    return json_model(
        BulkResponse(
            action=body.action,
            dry_run=False,
            matched=len(flow_ids),
            ids=[],
            results=results,
            ok=sum(error is None for _, error in outcomes),
        )
    )
