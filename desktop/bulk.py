"""Bulk actions on selected flows: retry failed, cancel, delete; with progress and a summary.

The flows go to ``POST /flows/bulk`` in chunks, one request at a time: never
more flows per request than the server's cap (``bulk_max_flows``, read from
its OpenAPI document), and at most :data:`CHUNK`, so a big selection moves
the progress bar instead of waiting on one long request. The server answers
each flow with the outcome its single route would have given; a flow it
refuses (nothing to retry, already finished, still running) is recorded
with the server's message and the others go on. A chunk the server refuses
as a whole (or cannot be reached for) counts each of its flows as failed
with that reason. The outcome says which flows were done and why the others
were not.

No Qt: the controller runs it as a task and turns progress into signals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from backend.schemas import BULK_OK, BulkAction, BulkResponse
from desktop.client.errors import ApiError, ClientError
from desktop.client.rest import RestClient

CHUNK = 500  # flows per request at most: progress moves, and each request stays short

Progress = Callable[[int, int], None]  # (finished so far, total)

LABELS = {
    BulkAction.RETRY: "retry failed",
    BulkAction.CANCEL: "cancel",
    BulkAction.DELETE: "delete",
}
NO_ANSWER = "the server did not report on this flow"


@dataclass
class BulkOutcome:
    action: BulkAction
    done: list[str] = field(default_factory=list)  # flow ids the server accepted
    failed: dict[str, str] = field(default_factory=dict)  # flow id -> the server's reason

    def summary(self) -> str:
        """``retry failed: 3 done, 1 failed (f-1: no failed jobs)``."""
        text = f"{LABELS[self.action]}: {len(self.done)} done"
        if self.failed:
            reasons = "; ".join(f"{fid}: {why}" for fid, why in list(self.failed.items())[:3])
            more = f"; and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            text += f", {len(self.failed)} failed ({reasons}{more})"
        return text

    def record(self, flow_ids: Sequence[str], answer: BulkResponse) -> None:
        """One chunk's answer: each flow done, or failed with the server's reason."""
        reported = {result.id: result for result in answer.results}
        for flow_id in flow_ids:
            result = reported.get(flow_id)
            if result is None:
                self.failed[flow_id] = NO_ANSWER
            elif result.outcome == BULK_OK:
                self.done.append(flow_id)
            else:
                self.failed[flow_id] = result.message or result.outcome

    def refuse(self, flow_ids: Sequence[str], exc: ClientError) -> None:
        reason = exc.message if isinstance(exc, ApiError) else str(exc)
        self.failed.update(dict.fromkeys(flow_ids, reason))


async def run_bulk(
    rest: RestClient,
    action: BulkAction,
    flow_ids: Sequence[str],
    progress: Progress | None = None,
) -> BulkOutcome:
    """Apply ``action`` to every flow; never raises for a flow the server refuses."""
    outcome = BulkOutcome(action)
    unique = list(dict.fromkeys(flow_ids))
    try:
        size = min(CHUNK, await rest.bulk_cap())
    except ClientError as exc:
        outcome.refuse(unique, exc)
        return outcome
    for start in range(0, len(unique), size):
        part = unique[start : start + size]
        try:
            answer = await rest.bulk_flows(action, part)
        except ClientError as exc:
            outcome.refuse(part, exc)
        else:
            outcome.record(part, answer)
        if progress is not None:
            progress(start + len(part), len(unique))
    return outcome
