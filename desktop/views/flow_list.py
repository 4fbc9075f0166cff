"""The flow list panel: search box, status filter and the paged table.

It forwards intent only: ``filterChanged`` when the user types or picks a
status (debounced, so typing does not flood the server), ``flowSelected``
when a row is chosen.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from backend.schemas import FlowStatus
from desktop.models.flow_list import Column, FlowListModel, FlowRole
from desktop.widgets.progress_delegate import ProgressDelegate


class FlowListPanel(QWidget):
    flowSelected = Signal(str)
    filterChanged = Signal(object, str)  # FlowStatus | None, search text

    def __init__(self, model: FlowListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search flows by name…")
        self.search.setClearButtonEnabled(True)
        self.status = QComboBox()
        self.status.addItem("All statuses", None)
        for status in FlowStatus:
            self.status.addItem(status.value, status)
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self.table))
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(Column.STATUS, QHeaderView.ResizeMode.ResizeToContents)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self._emit_filter)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.status.currentIndexChanged.connect(lambda _i: self._emit_filter())
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(self._on_selection)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def selected_flow(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return None if not rows else str(rows[0].data(FlowRole.FLOW_ID))

    def select_flow(self, flow_id: str) -> bool:
        row = self.model.row_of(flow_id)
        if row < 0:
            return False
        self.table.selectRow(row)
        return True

    def _emit_filter(self) -> None:
        self.filterChanged.emit(self.status.currentData(), self.search.text().strip())

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        flow_id = self.selected_flow()
        if flow_id is not None:
            self.flowSelected.emit(flow_id)
