"""Bulk actions on selected flows: retry failed, cancel, delete; with progress and a summary.

Today each flow is one request (``POST /flows/{id}/retry``, ``POST
/flows/{id}/cancel``, ``DELETE /flows/{id}``), a few at a time; a flow the
server refuses (nothing to retry, already finished, still running) is
recorded with the server's message and the others go on. The outcome says
which flows were done and why the others were not. When the server offers
``POST /flows/bulk``, only :func:`_one` (or a batch variant of it) changes:
callers see the same progress callback and :class:`BulkOutcome`.

No Qt: the controller runs it as a task and turns progress into signals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from desktop.client.errors import ApiError, ClientError
from desktop.client.rest import RestClient

CONCURRENCY = 8  # requests in flight at once: quick, without flooding the server

Progress = Callable[[int, int], None]  # (finished so far, total)


class BulkAction(StrEnum):
    RETRY_FAILED = "retry failed"
    CANCEL = "cancel"
    DELETE = "delete"


@dataclass
class BulkOutcome:
    action: BulkAction
    done: list[str] = field(default_factory=list)  # flow ids the server accepted
    failed: dict[str, str] = field(default_factory=dict)  # flow id -> the server's reason

    def summary(self) -> str:
        """``retry failed: 3 done, 1 failed (f-1: no failed jobs)``."""
        text = f"{self.action.value}: {len(self.done)} done"
        if self.failed:
            reasons = "; ".join(f"{fid}: {why}" for fid, why in list(self.failed.items())[:3])
            more = f"; and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            text += f", {len(self.failed)} failed ({reasons}{more})"
        return text


async def _one(rest: RestClient, action: BulkAction, flow_id: str) -> None:
    if action is BulkAction.RETRY_FAILED:
        await rest.retry_flow(flow_id)
    elif action is BulkAction.CANCEL:
        await rest.cancel_flow(flow_id)
    else:
        await rest.delete_flow(flow_id)


async def run_bulk(
    rest: RestClient,
    action: BulkAction,
    flow_ids: Sequence[str],
    progress: Progress | None = None,
) -> BulkOutcome:
    """Apply ``action`` to every flow; never raises for a flow the server refuses."""
    outcome = BulkOutcome(action)
    gate = asyncio.Semaphore(CONCURRENCY)
    finished = 0

    async def one(flow_id: str) -> None:
        nonlocal finished
        async with gate:
            try:
                await _one(rest, action, flow_id)
            except ApiError as exc:
                outcome.failed[flow_id] = exc.message
            except ClientError as exc:
                outcome.failed[flow_id] = str(exc)
            else:
                outcome.done.append(flow_id)
        finished += 1
        if progress is not None:
            progress(finished, len(unique))

    unique = list(dict.fromkeys(flow_ids))
    await asyncio.gather(*(one(fid) for fid in unique))
    return outcome
