"""Table models for the queues and workers page.

All are refreshed from REST snapshots (``GET /queues``, ``GET /workers``,
``GET /stats/tasks``):
when the row keys are unchanged only ``dataChanged`` is emitted, so the
views keep their selection and scroll position across refreshes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from backend.schemas import JobState, QueueInfo, TaskStatsItem, WorkerResponse
from desktop.theme import STATE_LABELS, state_color
from desktop.timeline import duration_text

Index = QModelIndex | QPersistentModelIndex
QUEUE_STATES = tuple(s.value for s in JobState)


class SnapshotModel(QAbstractTableModel):
    headers: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    def _key(self, row: Any) -> str:
        raise NotImplementedError

    def set_rows(self, rows: Sequence[Any]) -> None:
        if [self._key(r) for r in rows] == [self._key(r) for r in self._rows]:
            self._rows = list(rows)
            if rows:
                self.dataChanged.emit(
                    self.index(0, 0), self.index(len(rows) - 1, len(self.headers) - 1)
                )
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation is Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.headers)
        ):
            return self.headers[section]
        return None


def limits_text(queue: QueueInfo) -> str:
    """A queue's flow controls in a few words (empty: none)."""
    parts = []
    if queue.concurrency is not None:
        parts.append(f"{queue.concurrency} at once")
    if queue.rate_limit is not None:
        parts.append(f"{queue.rate_limit.max} per {queue.rate_limit.duration} ms")
    if queue.key_concurrency is not None:
        parts.append(f"{queue.key_concurrency} per key")
    return ", ".join(parts)


class QueueCountsModel(SnapshotModel):
    """One row per queue: one column per job state, then its controls."""

    headers = ("Queue", *(STATE_LABELS[s] for s in QUEUE_STATES), "Paused", "Limits")

    def queue_at(self, row: int) -> QueueInfo | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _key(self, row: Any) -> str:
        return str(row.name)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        queue: QueueInfo = self._rows[index.row()]
        column = index.column()
        if column == 0:
            return queue.name if role == Qt.ItemDataRole.DisplayRole else None
        if column > len(QUEUE_STATES):
            if role != Qt.ItemDataRole.DisplayRole:
                return None
            return (
                ("paused" if queue.paused else "")
                if column == len(QUEUE_STATES) + 1
                else (limits_text(queue))
            )
        state = QUEUE_STATES[column - 1]
        count = queue.counts.get(state, 0)
        if role == Qt.ItemDataRole.DisplayRole:
            return str(count)
        if role == Qt.ItemDataRole.ForegroundRole and count and state == "failed":
            return state_color(state)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def heartbeat_age(heartbeat_at: object, now: float | None = None) -> str:
    """``"3 s ago"`` from epoch ms or an ISO time; ``"?"`` if unreadable."""
    current = time.time() if now is None else now
    seconds: float | None = None
    if isinstance(heartbeat_at, int | float):
        seconds = current - heartbeat_at / 1000
    elif isinstance(heartbeat_at, str):
        try:
            seconds = current - datetime.fromisoformat(heartbeat_at).timestamp()
        except ValueError:
            seconds = None
    return "?" if seconds is None else f"{max(0.0, seconds):.0f} s ago"


class WorkersModel(SnapshotModel):
    headers = ("Worker", "Host", "PID", "Queues", "Tasks", "Heartbeat")

    def _key(self, row: Any) -> str:
        return str(row.id)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        worker: WorkerResponse = self._rows[index.row()]
        values = (
            worker.id,
            worker.host,
            "" if worker.pid is None else str(worker.pid),
            ", ".join(worker.queues),
            ", ".join(worker.tasks),
            heartbeat_age(worker.heartbeat_at),
        )
        return values[index.column()]


def percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"


class TaskStatsModel(SnapshotModel):
    """Per task over the last hour (``GET /stats/tasks``): finished jobs, p50, p95, failure rate."""

    headers = ("Task", "Completed", "Failed", "p50", "p95", "Failure rate")

    def _key(self, row: Any) -> str:
        return str(row.name)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        stats: TaskStatsItem = self._rows[index.row()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 5 and stats.failed:
            return state_color("failed")
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        values = (
            stats.name,
            str(stats.completed),
            str(stats.failed),
            "" if stats.p50_ms is None else duration_text(stats.p50_ms),
            "" if stats.p95_ms is None else duration_text(stats.p95_ms),
            percent(stats.failure_rate),
        )
        return values[index.column()]
