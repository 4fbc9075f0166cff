"""Retention: finished flows are deleted once past their age or count limit.

``backend serve`` runs a :class:`Pruner` (settings ``retention*``; off in the
desktop's embedded backend unless asked for) and ``backend prune`` runs one
pass by hand. A pass deletes in batches of ``retention_batch`` flows, one
write transaction each, yielding between them so that ``POST /flows`` and
the dispatcher never wait behind more than one batch; then it gives the
freed pages back to the file system (incremental vacuum), so the file
shrinks rather than only stops growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from backend.api.context import STORE
from backend.domain.search import RetentionRule
from backend.settings import Settings
from backend.store.store import Store

log = logging.getLogger("backend.retention")


@dataclass(frozen=True)
class PruneReport:
    deleted: int
    reclaimed: bool  # the file gave freed pages back (False: made without auto-vacuum)


async def prune(
    store: Store, rules: tuple[RetentionRule, ...], *, now: int, batch: int
) -> PruneReport:
    """Delete every finished flow past ``rules`` as of ``now``, ``batch`` per transaction."""
    deleted = 0
    for rule in rules:
        cutoff = await store.retention_cutoff(rule, now)
        if cutoff is None:
            continue
        while True:
            gone = await store.prune_flows(rule.statuses, cutoff, batch)
            deleted += len(gone)
            await asyncio.sleep(0)  # waiting writers go before our next batch
            if len(gone) < batch:
                break
    reclaimed = await store.db.reclaim_space() if deleted else False
    return PruneReport(deleted, reclaimed)


class Pruner:
    """Runs :func:`prune` every ``retention_interval`` seconds until closed."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], int]) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._warned = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention-pruner")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> PruneReport:
        report = await prune(
            self.store,
            self.settings.retention_rules,
            now=self.clock(),
            batch=self.settings.retention_batch,
        )
        self.passes += 1
        if report.deleted:
            log.info("retention pruned flows", extra={"flows": report.deleted})
        if report.deleted and not report.reclaimed and not self._warned:
            self._warned = True
            log.warning(
                "this database was made without incremental auto-vacuum, so pruning frees "
                "space inside the file but does not shrink it; run `backend prune --vacuum` once"
            )
        return report

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(self.settings.retention_interval)


PRUNER = web.AppKey("pruner", Pruner)


def retention_ctx(
    settings: Settings, clock: Callable[[], int]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs the pruner as long as the app (when retention is on)."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        if not settings.retention_rules:
            yield
            return
        pruner = Pruner(app[STORE], settings, clock)
        app[PRUNER] = pruner
        pruner.start()
        try:
            yield
        finally:
            await pruner.close()

    return run
