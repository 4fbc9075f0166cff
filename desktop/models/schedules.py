"""The schedules table: one row per schedule, from ``GET /schedules`` snapshots
(kept like the queues table: a refresh with the same schedules keeps the selection)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from backend.schemas import ScheduleResponse
from desktop.models.overview import SnapshotModel

Index = QModelIndex | QPersistentModelIndex
HEADERS = ("Name", "When", "Next run", "Last run", "Last flow", "Paused")


def when(schedule: ScheduleResponse) -> str:
    if schedule.cron is not None:
        return f"{schedule.cron} ({schedule.timezone})"
    return f"every {(schedule.every or 0) / 1000:g} s"


def _time(stamp: str | None) -> str:
    return "" if stamp is None else stamp.replace("T", " ")[:19]


class ScheduleListModel(SnapshotModel):
    headers = HEADERS

    def _key(self, row: Any) -> str:
        return str(row.id)

    def schedule_at(self, row: int) -> ScheduleResponse | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        s: ScheduleResponse = self._rows[index.row()]
        values = (
            s.name,
            when(s),
            "" if s.paused else _time(s.next_run_at),
            _time(s.last_run_at),
            "" if s.last_flow_status is None else s.last_flow_status.value,
            "paused" if s.paused else "",
        )
        return values[index.column()]
