"""The store the API and the CLI use: one object over one :class:`Database`.

:class:`Store` only assembles the query groups, each in its own module
(``users.py``, ``flows.py``, ``finder.py``, ``stats.py``, ``queues.py``,
``schedules.py``), so the file list reads like the data model.
The execution layer (``execution.py``) works on the same ``Database`` and
reuses ``rows.py`` and ``events.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from backend.clock import now_ms
from backend.store.db import Database
from backend.store.finder import FinderQueries
from backend.store.flows import FlowQueries
from backend.store.queues import QueueQueries
from backend.store.retention import RetentionQueries
from backend.store.schedules import ScheduleQueries
from backend.store.stats import StatsQueries
from backend.store.users import UserQueries


class Store(
    UserQueries,
    FlowQueries,
    FinderQueries,
    RetentionQueries,
    StatsQueries,
    QueueQueries,
    ScheduleQueries,
):
    """Users, tokens, flows, jobs, queue controls and schedules in SQLite; build with
    :meth:`open`."""

    def __init__(self, db: Database, *, clock: Callable[[], int] = now_ms) -> None:
        self.db = db
        self.clock = clock

    @classmethod
    async def open(
        cls, path: Path, *, clock: Callable[[], int] = now_ms, durability: str = "full"
    ) -> Store:
        return cls(await Database.open(path, durability=durability), clock=clock)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
