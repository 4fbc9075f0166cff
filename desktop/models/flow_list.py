"""The flow list as a Qt table model, newest first, paged and live.

The model holds only the rows the user has scrolled to: the first page comes
from ``reset_page``, later pages are asked for through ``fetchMore`` (which
emits ``fetchRequested`` with the server's cursor; the controller fetches and
calls ``append_page``). Live changes from :mod:`desktop.state` arrive through
``apply`` and become ``beginInsertRows`` / ``dataChanged`` / ``beginRemoveRows``
for just the affected rows. Pages come from ``GET /flows`` with the current
filter (status, search text, time range "created since") as its query, so
they hold only matching flows; the same filter is applied here only to
live inserts, which the websocket sends for every flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from backend.schemas import FlowResponse, FlowStatus
from desktop.client.wire import done
from desktop.state import Change, FlowAdded, FlowChanged, FlowRemoved
from desktop.theme import FAILED_TINT, STATE_LABELS, STUCK_TINT, state_icon
from desktop.timeline import duration_text, millis

Index = QModelIndex | QPersistentModelIndex


class FlowRole(IntEnum):
    FLOW_ID = Qt.ItemDataRole.UserRole + 1
    STATUS = Qt.ItemDataRole.UserRole + 2
    DONE = Qt.ItemDataRole.UserRole + 3
    TOTAL = Qt.ItemDataRole.UserRole + 4
    STUCK = Qt.ItemDataRole.UserRole + 5  # stuck reason, or ""
    ATTENTION = Qt.ItemDataRole.UserRole + 6  # failed or stuck: highlight
    FLOW = Qt.ItemDataRole.UserRole + 7  # the FlowResponse record


class Column(IntEnum):
    STATUS = 0
    NAME = 1
    PROGRESS = 2
    CREATED = 3
    DURATION = 4


HEADERS = {
    Column.STATUS: "Status",
    Column.NAME: "Name",
    Column.PROGRESS: "Progress",
    Column.CREATED: "Created",
    Column.DURATION: "Duration",
}


def local_time(iso: str, today: date | None = None) -> str:
    """A server time in local time: the clock time today, else the date too."""
    try:
        moment = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    if moment.date() == (today or date.today()):
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def flow_duration(flow: FlowResponse) -> str:
    """Created to finished, for a finished flow; "" while it runs."""
    start, end = millis(flow.created_at), millis(flow.finished_at)
    return "" if start is None or end is None else duration_text(end - start)


def status_text(flow: FlowResponse) -> str:
    if flow.stuck is not None and flow.status is FlowStatus.ACTIVE:
        return "stuck"
    return STATE_LABELS.get(flow.status.value, flow.status.value)


class FlowListModel(QAbstractTableModel):
    fetchRequested = Signal(str)  # the cursor of the next page

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids: list[str] = []
        self._flows: dict[str, FlowResponse] = {}
        self._rows: dict[str, int] | None = {}  # flow id -> row; None: rebuild on next use
        self._next_cursor: str | None = None
        self._fetch_pending = False
        self.status_filter: FlowStatus | None = None
        self.search: str = ""
        self.created_since: str | None = None  # ISO time; None: any time

    # --- filter and pages ------------------------------------------------------

    def set_filter(
        self, status: FlowStatus | None, search: str, created_since: str | None = None
    ) -> None:
        """Change the filter; rows are cleared until the controller reloads."""
        self.status_filter = status
        self.search = search
        self.created_since = created_since
        self.reset_page((), None)

    def matches(self, flow: FlowResponse) -> bool:
        if self.status_filter is not None and flow.status is not self.status_filter:
            return False
        if not self._in_range(flow):
            return False
        return self.search.lower() in flow.name.lower()

    def _in_range(self, flow: FlowResponse) -> bool:
        # The server writes every time alike (UTC, milliseconds): string order is time order.
        return self.created_since is None or flow.created_at >= self.created_since

    def reset_page(self, flows: Sequence[FlowResponse], next_cursor: str | None) -> None:
        self.beginResetModel()
        self._ids = []
        self._flows = {}
        for flow in flows:
            if flow.id not in self._flows:
                self._ids.append(flow.id)
                self._flows[flow.id] = flow
        self._next_cursor = next_cursor
        self._fetch_pending = False
        self._rows = None
        self.endResetModel()

    def append_page(self, flows: Sequence[FlowResponse], next_cursor: str | None) -> None:
        unique = {f.id: f for f in flows}
        fresh = [f for f in unique.values() if f.id not in self._flows]
        self._next_cursor = next_cursor
        self._fetch_pending = False
        if not fresh:
            return
        first = len(self._ids)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for flow in fresh:
            self._ids.append(flow.id)
            self._flows[flow.id] = flow
        self._rows = None
        self.endInsertRows()

    @property
    def next_cursor(self) -> str | None:
        return self._next_cursor

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._next_cursor is not None and not self._fetch_pending

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent) and self._next_cursor is not None:
            self._fetch_pending = True
            self.fetchRequested.emit(self._next_cursor)

    # --- live changes ----------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            if isinstance(change, FlowAdded | FlowChanged):
                self._upsert(change.flow)
            elif isinstance(change, FlowRemoved):
                self._remove(change.flow_id)

    def _upsert(self, flow: FlowResponse) -> None:
        if flow.id in self._flows:
            if not self.matches(flow):
                self._remove(flow.id)
                return
            self._flows[flow.id] = flow
            row = self.row_of(flow.id)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))
            return
        if not self.matches(flow):
            return
        at = self._insert_row_for(flow)
        if at is None:
            return  # older than the loaded pages: it arrives with fetchMore
        self.beginInsertRows(QModelIndex(), at, at)
        self._ids.insert(at, flow.id)
        self._rows = None
        self._flows[flow.id] = flow
        self.endInsertRows()

    def _insert_row_for(self, flow: FlowResponse) -> int | None:
        # Rows are newest first: binary search for the first row created no
        # later than this flow (the usual case, a brand-new flow, is row 0).
        ids, flows = self._ids, self._flows
        lo, hi = 0, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if flows[ids[mid]].created_at > flow.created_at:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(ids) and self._next_cursor is not None:
            return None
        return lo

    def _remove(self, flow_id: str) -> None:
        if flow_id not in self._flows:
            return
        row = self.row_of(flow_id)
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._ids[row]
        self._rows = None
        del self._flows[flow_id]
        self.endRemoveRows()

    # --- Qt model interface ----------------------------------------------------

    def flow_at(self, row: int) -> FlowResponse | None:
        return self._flows[self._ids[row]] if 0 <= row < len(self._ids) else None

    def row_of(self, flow_id: str) -> int:
        """The row of a loaded flow, -1 if none; O(1) between inserts and removals."""
        if flow_id not in self._flows:
            return -1
        if self._rows is None:
            self._rows = {fid: row for row, fid in enumerate(self._ids)}
        return self._rows[flow_id]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation is Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(Column)
        ):
            return HEADERS[Column(section)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        flow = self.flow_at(index.row())
        if flow is None:
            return None
        if role >= FlowRole.FLOW_ID:
            return self._role_data(flow, role)
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(flow, column)
        if role == Qt.ItemDataRole.DecorationRole and column is Column.STATUS:
            return state_icon("failed" if flow.stuck is not None else flow.status.value)
        if role == Qt.ItemDataRole.BackgroundRole:
            if flow.status is FlowStatus.FAILED:
                return FAILED_TINT
            if flow.stuck is not None:
                return STUCK_TINT
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{flow.name}\n{flow.id}\ncreated {flow.created_at}"
            if flow.stuck is not None:
                tip += f"\nstuck at {flow.stuck.job_id}: {flow.stuck.reason}"
            return tip
        return None

    @staticmethod
    def _display(flow: FlowResponse, column: Column) -> str:
        if column is Column.STATUS:
            return status_text(flow)
        if column is Column.NAME:
            return flow.name
        if column is Column.PROGRESS:
            return f"{done(flow)}/{flow.total}"
        if column is Column.DURATION:
            return flow_duration(flow)
        return local_time(flow.created_at)

    @staticmethod
    def _role_data(flow: FlowResponse, role: int) -> Any:
        values: dict[int, Any] = {
            FlowRole.FLOW_ID: flow.id,
            FlowRole.STATUS: flow.status.value,
            FlowRole.DONE: done(flow),
            FlowRole.TOTAL: flow.total,
            FlowRole.STUCK: "" if flow.stuck is None else flow.stuck.reason,
            FlowRole.ATTENTION: flow.status is FlowStatus.FAILED or flow.stuck is not None,
            FlowRole.FLOW: flow,
        }
        return values.get(role)
