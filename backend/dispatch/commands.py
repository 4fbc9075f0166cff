"""Operator commands: cancel a flow, retry a flow, retry a job.

Each runs the engine over the flow inside one transaction (ownership checked
in the same transaction), writes what changed with its events, and then acts
on the broker: running jobs of a cancelled flow are asked to stop (newly
ready jobs reach the dispatcher through the commit itself). A command the flow's state does not
allow is a 409 for the client, never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import aiosqlite

from backend.dispatch.cache import MachineCache
from backend.dispatch.transport import Transport
from backend.domain.engine import FlowMachine, InvalidTransition
from backend.domain.events import Outcome
from backend.domain.models import Flow
from backend.domain.search import BulkAction
from backend.errors import ClientError, Conflict, NotFound
from backend.store.db import Database
from backend.store.execution import flow_ids_of_jobs, load_flow, load_machine, write_outcome


class FlowCommands:
    def __init__(
        self,
        *,
        db: Database,
        transport: Transport,
        cache: MachineCache,
        clock: Callable[[], int],
    ) -> None:
        self.cache = cache
        self.db = db
        self.transport = transport
        self.clock = clock

    async def cancel_flow(self, user_id: str, flow_id: str) -> Flow:
        return await self._run(user_id, flow_id, _COMMANDS[BulkAction.CANCEL])

    async def retry_flow(self, user_id: str, flow_id: str) -> Flow:
        return await self._run(user_id, flow_id, _COMMANDS[BulkAction.RETRY])

    async def retry_job(self, user_id: str, job_id: str) -> Flow:
        async with self.db.read() as conn:
            flow_id = (await flow_ids_of_jobs(conn, [job_id])).get(job_id)
        if flow_id is None:
            raise NotFound(f"no job with id {job_id!r}", code="job_not_found")
        return await self._run(
            user_id, flow_id, lambda m, now: m.retry_job(job_id, now), job_id=job_id
        )

    async def run_many(
        self, user_id: str, flow_ids: Sequence[str], action: BulkAction
    ) -> list[tuple[str, ClientError | None]]:
        """Cancel or retry each of ``flow_ids`` in one transaction: each flow's
        outcome is None (done) or the error the single command raises, and a
        refused flow leaves the others done."""
        if action is BulkAction.DELETE:
            raise ValueError("deleting is the store's (Store.delete_flows)")
        command = _COMMANDS[action]
        now = self.clock()
        outcomes: list[tuple[str, ClientError | None]] = []
        running: list[str] = []
        async with self.db.transaction() as conn:
            for flow_id in flow_ids:
                try:
                    outcome = await self._apply(conn, user_id, flow_id, command, now, None)
                except (Conflict, NotFound) as exc:
                    outcomes.append((flow_id, exc))
                else:
                    running.extend(outcome.cancel_running)
                    outcomes.append((flow_id, None))
        if running:
            await self.transport.cancel(running)
        return outcomes

    async def _run(
        self,
        user_id: str,
        flow_id: str,
        command: Callable[[FlowMachine, int], object],
        job_id: str | None = None,
    ) -> Flow:
        now = self.clock()
        async with self.db.transaction() as conn:
            outcome = await self._apply(conn, user_id, flow_id, command, now, job_id)
            updated = await load_flow(conn, flow_id)
        assert updated is not None
        if outcome.cancel_running:
            await self.transport.cancel(outcome.cancel_running)
        return updated

    async def _apply(  # noqa: PLR0917
        self,
        conn: aiosqlite.Connection,
        user_id: str,
        flow_id: str,
        command: Callable[[FlowMachine, int], object],
        now: int,
        job_id: str | None,
    ) -> Outcome:
        """Run ``command`` on the flow inside the caller's transaction; writes
        nothing when the flow's state refuses it (Conflict) or it is not theirs."""
        flow = await _owned(conn, user_id, flow_id, job_id)
        machine = await load_machine(conn, flow)
        try:
            command(machine, now)
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="invalid_state") from exc
        outcome = machine.take_outcome()
        await write_outcome(conn, flow, machine, outcome, now)
        self.cache.invalidate(flow_id)
        return outcome


_COMMANDS: dict[BulkAction, Callable[[FlowMachine, int], object]] = {
    BulkAction.CANCEL: lambda m, now: m.cancel(now),
    BulkAction.RETRY: lambda m, now: m.retry_flow(now),
}


async def _owned(
    conn: aiosqlite.Connection, user_id: str, flow_id: str, job_id: str | None
) -> Flow:
    flow = await load_flow(conn, flow_id)
    if flow is None or flow.user_id != user_id:
        if job_id is not None:
            raise NotFound(f"no job with id {job_id!r}", code="job_not_found")
        raise NotFound(f"no flow with id {flow_id!r}", code="flow_not_found")
    return flow
