"""Engine snapshots of active flows, kept between event batches.

Loading a 10,000-job flow for every small batch of worker events would make
a wide flow quadratic. The consumer keeps each active flow's
:class:`FlowMachine` here, so a batch costs what it changes. The rule that
keeps the copy true: every writer of a flow's jobs either goes through the
cached machine (the consumer), mirrors its write into it (the dispatcher's
``note_sent``), or invalidates the entry *inside* its write transaction
(commands, the monitor, unknown-task failures), so no batch can see a stale
copy. A failed transaction drops the entries it touched. Finished flows are
not kept; a late event for one loads it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import aiosqlite

from backend.domain.engine import FlowMachine
from backend.domain.models import Flow, FlowStatus
from backend.store.db import Database
from backend.store.execution import load_flows, load_machines, write_outcomes


class MachineCache:
    def __init__(self, max_jobs: int = 500_000) -> None:
        self.max_jobs = max_jobs
        self._entries: OrderedDict[str, tuple[Flow, FlowMachine]] = OrderedDict()
        self._jobs = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, flow_id: str) -> tuple[Flow, FlowMachine] | None:
        entry = self._entries.get(flow_id)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(flow_id)
        return entry

    def put(self, flow: Flow, machine: FlowMachine) -> None:
        self.invalidate(flow.id)
        if machine.status is not FlowStatus.ACTIVE or len(machine.jobs) > self.max_jobs:
            return
        self._entries[flow.id] = (flow, machine)
        self._jobs += len(machine.jobs)
        while self._jobs > self.max_jobs:
            _flow_id, (_flow, evicted) = self._entries.popitem(last=False)
            self._jobs -= len(evicted.jobs)

    def invalidate(self, flow_id: str) -> None:
        entry = self._entries.pop(flow_id, None)
        if entry is not None:
            self._jobs -= len(entry[1].jobs)

    def invalidate_all(self, flow_ids: Iterable[str]) -> None:
        for flow_id in flow_ids:
            self.invalidate(flow_id)

    def note_sent(self, marked: Iterable[tuple[str, str]]) -> None:
        """Mirror the dispatcher's ``mark_dispatched`` (``(flow_id, job_id)`` pairs)."""
        for flow_id, job_id in marked:
            entry = self._entries.get(flow_id)
            if entry is not None:
                entry[1].note_sent(job_id)


Groups = Mapping[str, Sequence[str]]  # flow_id -> job ids
Select = Callable[[aiosqlite.Connection], Awaitable[Groups]]


async def apply_to_flows(
    db: Database,
    cache: MachineCache,
    select: Select,
    action: Callable[[FlowMachine, str, int], bool],
    now: int,
    *,
    extra: Callable[[aiosqlite.Connection], Awaitable[None]] | None = None,
    cancel: Callable[[list[str]], Awaitable[None]] | None = None,
) -> list[str]:
    """Run ``action(machine, job_id, now)`` for the jobs ``select`` finds, grouped
    by flow, in one write transaction over fresh machines; returns the job ids
    it was true for.

    The writers besides the consumer (the monitor, unknown-task failures) go
    through here. ``select`` runs twice: once on a snapshot, so that nothing
    to do opens no write transaction, and again *inside* the transaction, so
    the decision is taken from the state that the write replaces and never
    from a read another writer has since overtaken (a requeue written over
    the consumer's newer retry lost a job's next attempt that way). The
    flows' cached copies are invalidated inside the transaction, as the rule
    above asks. Running jobs the actions cancelled (fail fast) are passed to
    ``cancel`` after the commit.
    """
    if extra is None:
        async with db.read() as conn:
            if not await select(conn):
                return []
    applied: list[str] = []
    stop: list[str] = []
    async with db.transaction() as conn:
        groups = await select(conn)
        flows = await load_flows(conn, groups)
        machines = await load_machines(conn, list(flows.values()))
        items = []
        for flow_id, flow in flows.items():
            machine = machines[flow_id]
            applied += [job_id for job_id in groups[flow_id] if action(machine, job_id, now)]
            outcome = machine.take_outcome()
            stop += outcome.cancel_running
            items.append((flow, machine, outcome))
            cache.invalidate(flow_id)
        if items:
            await write_outcomes(conn, items, now)
        if extra is not None:
            await extra(conn)
    if stop and cancel is not None:
        # a final failure there made a fail-fast parent cancel running jobs
        await cancel(stop)
    return applied


def given(groups: Groups) -> Select:
    """A ``select`` for jobs chosen by something other than stored state."""

    async def select(_conn: aiosqlite.Connection) -> Groups:
        return groups

    return select
