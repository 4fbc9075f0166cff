"""The selected flow's jobs as a table model: one row per job, sorted, filtered, live.

The model sorts and filters itself, in Python, over plain keys computed
once per record (:class:`Row`): 20,000 rows sort in about 20 ms. A
``QSortFilterProxyModel`` did the same through ``data()`` calls, about 80
of them per live update (it re-places the changed row) and a few hundred
thousand per sort: at 1,000 updates a second that was a quarter of the
loop's time, even with the table hidden.

A live update (``update_job``) replaces the record and emits one
``dataChanged`` for its row (an id -> row index finds it). Under a sort or
a filter, the row's place may then be out of date: the model only marks
its order stale, and ``refresh_order`` (called by the panel on a timer,
while it is shown) sorts and filters again in one layout change, keeping
the selection. New jobs are appended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from backend.schemas import FlowJobResponse, JobState
from desktop.client.wire import attempts_allowed
from desktop.models.flow_list import local_time
from desktop.theme import FAILED_TINT, STATE_LABELS, state_icon
from desktop.timeline import duration_text, millis

Index = QModelIndex | QPersistentModelIndex
JOB_ID_ROLE = Qt.ItemDataRole.UserRole + 2


class JobColumn(IntEnum):
    NAME = 0
    STATE = 1
    QUEUE = 2
    ATTEMPTS = 3
    STARTED = 4
    DURATION = 5
    WORKER = 6  # the worker of the latest attempt


HEADERS = ("Name", "State", "Queue", "Attempts", "Started", "Duration", "Worker")


@dataclass(frozen=True)
class Row:
    """A job and what its sortable columns hold, computed once per record."""

    job: FlowJobResponse
    started: int  # epoch ms; -1 if it never started
    duration: int  # ms; -1 if it has not finished

    @classmethod
    def of(cls, job: FlowJobResponse) -> Row:
        start = millis(job.started_at)
        end = millis(job.finished_at)
        duration = end - start if start is not None and end is not None else -1
        return cls(job, -1 if start is None else start, duration)


class JobsTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all: dict[str, Row] = {}  # every job, in tree order
        self._order: list[str] = []  # the rows shown: filtered, sorted
        self._index: dict[str, int] = {}  # job id -> row in _order
        self.sort_column: JobColumn | None = None  # None: tree order
        self.descending = False
        self.state: JobState | None = None
        self.text = ""
        self.stale = False  # a live update may have moved a row out of order

    # --- content ---------------------------------------------------------------

    def set_jobs(self, jobs: Iterable[FlowJobResponse]) -> None:
        self.beginResetModel()
        self._all = {job.job_id: Row.of(job) for job in jobs}
        self._place()
        self.endResetModel()

    def update_job(self, job: FlowJobResponse) -> None:
        row = Row.of(job)
        known = job.job_id in self._all
        self._all[job.job_id] = row
        at = self._index.get(job.job_id)
        if at is not None:
            self.dataChanged.emit(self.index(at, 0), self.index(at, len(JobColumn) - 1))
            self.stale = self.stale or self.sort_column is not None or self.state is not None
        elif not known and self._matches(row):
            at = len(self._order)
            self.beginInsertRows(QModelIndex(), at, at)
            self._order.append(job.job_id)
            self._index[job.job_id] = at
            self.endInsertRows()
        elif known and self.state is not None:
            self.stale = True  # it may match the filter now

    def set_filter(self, state: JobState | str | None, text: str) -> None:
        """Keep one state (or all: None) and rows holding ``text``; a combo's data may be str."""
        self.state = None if state is None else JobState(state)
        self.text = text.strip().lower()
        self.beginResetModel()
        self._place()
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column (tree order for a column < 0), as ``QTableView`` asks."""
        self.sort_column = JobColumn(column) if 0 <= column < len(JobColumn) else None
        self.descending = order is Qt.SortOrder.DescendingOrder
        self.refresh_order(force=True)

    def refresh_order(self, *, force: bool = False) -> None:
        """Sort and filter again if a live update may have moved rows; keeps the selection."""
        if not (self.stale or force):
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        ids = [self._order[i.row()] if 0 <= i.row() < len(self._order) else None for i in before]
        self._place()
        after = []
        for index, job_id in zip(before, ids, strict=True):
            row = -1 if job_id is None else self._index.get(job_id, -1)
            after.append(self.index(row, index.column()) if row >= 0 else QModelIndex())
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def _matches(self, row: Row) -> bool:
        job = row.job
        if self.state is not None and job.status is not self.state:
            return False
        text = self.text
        return not text or any(
            text in s.lower() for s in (job.name, job.queue_name, job.job_id, job.worker_id or "")
        )

    def _place(self) -> None:
        rows = [r for r in self._all.values() if self._matches(r)]
        column = self.sort_column
        if column is not None:
            rows.sort(key=lambda r: self._sort_key(r, column), reverse=self.descending)
        self._order = [r.job.job_id for r in rows]
        self._index = {job_id: i for i, job_id in enumerate(self._order)}
        self.stale = False

    def row_of(self, job_id: str) -> int:
        """The job's row as shown, -1 if the filter hides it."""
        return self._index.get(job_id, -1)

    def job_at(self, row: int) -> FlowJobResponse | None:
        return self._all[self._order[row]].job if 0 <= row < len(self._order) else None

    # --- Qt model interface ----------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(JobColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation is Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(HEADERS)
        ):
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._order):
            return None
        row = self._all[self._order[index.row()]]
        column = JobColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == JOB_ID_ROLE:
            return row.job.job_id
        if role == Qt.ItemDataRole.DecorationRole and column is JobColumn.STATE:
            return state_icon(row.job.status.value)
        if role == Qt.ItemDataRole.BackgroundRole and row.job.status is JobState.FAILED:
            return FAILED_TINT
        if role == Qt.ItemDataRole.ToolTipRole:
            worker = row.job.worker_id
            on = f"\non worker {worker}" if worker else ""
            return f"{row.job.name} ({row.job.job_id}){on}"
        return None

    @staticmethod
    def _display(row: Row, column: JobColumn) -> str:
        job = row.job
        if column is JobColumn.NAME:
            return job.name
        if column is JobColumn.STATE:
            return STATE_LABELS.get(job.status.value, job.status.value)
        if column is JobColumn.QUEUE:
            return job.queue_name
        if column is JobColumn.ATTEMPTS:
            return f"{job.attempts_made}/{attempts_allowed(job)}"
        if column is JobColumn.STARTED:
            return local_time(job.started_at) if job.started_at else ""
        if column is JobColumn.WORKER:
            return job.worker_id or ""
        return duration_text(row.duration)

    @staticmethod
    def _sort_key(row: Row, column: JobColumn) -> Any:
        job = row.job
        if column is JobColumn.NAME:
            return job.name
        if column is JobColumn.STATE:
            return job.status.value
        if column is JobColumn.QUEUE:
            return job.queue_name
        if column is JobColumn.ATTEMPTS:
            return job.attempts_made
        if column is JobColumn.STARTED:
            return row.started
        if column is JobColumn.WORKER:
            return (job.worker_id is None, job.worker_id or "")  # never started: last
        return row.duration
