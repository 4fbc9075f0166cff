"""The selected flow's jobs as a table model: one row per job, live.

Rows are the flow's jobs in tree order (``set_jobs``); a live update
(``update_job``) is one ``dataChanged`` for its row, found through a job id
-> row index, so 1,000 updates a second cost 1,000 dict lookups. Sorting
and filtering are the proxy's (:class:`JobsFilter`): it sorts on
``SORT_ROLE``, whose values are numbers where the column is one (attempts,
start time, duration), computed once per record rather than on every
comparison, and filters by state and by a text found in the name, queue or
job id.
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
    QSortFilterProxyModel,
    Qt,
)

from backend.schemas import FlowJobResponse, JobState
from desktop.client.wire import attempts_allowed
from desktop.models.flow_list import local_time
from desktop.theme import FAILED_TINT, STATE_LABELS, state_icon
from desktop.timeline import duration_text, millis

Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
JOB_ID_ROLE = Qt.ItemDataRole.UserRole + 2


class JobColumn(IntEnum):
    NAME = 0
    STATE = 1
    QUEUE = 2
    ATTEMPTS = 3
    STARTED = 4
    DURATION = 5


HEADERS = ("Name", "State", "Queue", "Attempts", "Started", "Duration")


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
        self._rows: list[Row] = []
        self._index: dict[str, int] = {}

    def set_jobs(self, jobs: Iterable[FlowJobResponse]) -> None:
        self.beginResetModel()
        self._rows = [Row.of(job) for job in jobs]
        self._index = {row.job.job_id: i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def update_job(self, job: FlowJobResponse) -> None:
        at = self._index.get(job.job_id)
        if at is None:
            at = len(self._rows)
            self.beginInsertRows(QModelIndex(), at, at)
            self._rows.append(Row.of(job))
            self._index[job.job_id] = at
            self.endInsertRows()
            return
        self._rows[at] = Row.of(job)
        self.dataChanged.emit(self.index(at, 0), self.index(at, len(JobColumn) - 1))

    def row_of(self, job_id: str) -> int:
        return self._index.get(job_id, -1)

    def job_at(self, row: int) -> FlowJobResponse | None:
        return self._rows[row].job if 0 <= row < len(self._rows) else None

    # --- Qt model interface ----------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

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
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = JobColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == JOB_ID_ROLE:
            return row.job.job_id
        if role == Qt.ItemDataRole.DecorationRole and column is JobColumn.STATE:
            return state_icon(row.job.status.value)
        if role == Qt.ItemDataRole.BackgroundRole and row.job.status is JobState.FAILED:
            return FAILED_TINT
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.job.name} ({row.job.job_id})"
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
        return duration_text(row.duration)

    @staticmethod
    def _sort_key(row: Row, column: JobColumn) -> Any:
        job = row.job
        keys: dict[JobColumn, Any] = {
            JobColumn.NAME: job.name,
            JobColumn.STATE: job.status.value,
            JobColumn.QUEUE: job.queue_name,
            JobColumn.ATTEMPTS: job.attempts_made,
            JobColumn.STARTED: row.started,
            JobColumn.DURATION: row.duration,
        }
        return keys[column]


class JobsFilter(QSortFilterProxyModel):
    """Sorts on ``SORT_ROLE``; keeps rows of one state (or all) holding a text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.state: JobState | None = None
        self.text = ""

    def set_filter(self, state: JobState | str | None, text: str) -> None:
        """Keep one state (or all: None) and rows holding ``text``; a combo's data may be str."""
        wanted = None if state is None else JobState(state)
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+, where invalidateFilter is deprecated
            self.beginFilterChange()
            self.state, self.text = wanted, text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self.state, self.text = wanted, text.strip().lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        job = model.job_at(source_row) if isinstance(model, JobsTableModel) else None
        if job is None:
            return False
        if self.state is not None and job.status is not self.state:
            return False
        text = self.text
        return not text or any(text in s.lower() for s in (job.name, job.queue_name, job.job_id))
