"""Operator commands: cancel a flow, retry a flow, retry a job.

Each runs the engine over the flow inside one transaction (ownership checked
in the same transaction), writes what changed with its events, and then acts
on the broker: running jobs of a cancelled flow are asked to stop (newly
ready jobs reach the dispatcher through the commit itself). A command the flow's state does not
allow is a 409 for the client, never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable

import aiosqlite

from backend.dispatch.cache import MachineCache
from backend.dispatch.transport import Transport
from backend.domain.engine import FlowMachine, InvalidTransition
from backend.domain.models import Flow
from backend.errors import Conflict, NotFound
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
        return await self._run(user_id, flow_id, lambda m, now: m.cancel(now))

    async def retry_flow(self, user_id: str, flow_id: str) -> Flow:
        return await self._run(user_id, flow_id, lambda m, now: m.retry_flow(now))

    async def retry_job(self, user_id: str, job_id: str) -> Flow:
        async with self.db.read() as conn:
            flow_id = (await flow_ids_of_jobs(conn, [job_id])).get(job_id)
        if flow_id is None:
            raise NotFound(f"no job with id {job_id!r}", code="job_not_found")
        return await self._run(
            user_id, flow_id, lambda m, now: m.retry_job(job_id, now), job_id=job_id
        )

    async def _run(
        self,
        user_id: str,
        flow_id: str,
        command: Callable[[FlowMachine, int], object],
        job_id: str | None = None,
    ) -> Flow:
        now = self.clock()
        async with self.db.transaction() as conn:
            flow = await _owned(conn, user_id, flow_id, job_id)
            machine = await load_machine(conn, flow)
            try:
                command(machine, now)
            except InvalidTransition as exc:
                raise Conflict(str(exc), code="invalid_state") from exc
            outcome = machine.take_outcome()
            await write_outcome(conn, flow, machine, outcome, now)
            self.cache.invalidate(flow_id)
            updated = await load_flow(conn, flow_id)
        assert updated is not None
        if outcome.cancel_running:
            await self.transport.cancel(outcome.cancel_running)
        return updated


async def _owned(
    conn: aiosqlite.Connection, user_id: str, flow_id: str, job_id: str | None
) -> Flow:
    flow = await load_flow(conn, flow_id)
    if flow is None or flow.user_id != user_id:
        if job_id is not None:
            raise NotFound(f"no job with id {job_id!r}", code="job_not_found")
        raise NotFound(f"no flow with id {flow_id!r}", code="flow_not_found")
    return flow
