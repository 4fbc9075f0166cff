"""The flow list panel: search box, status filter, the paged table and bulk actions.

It forwards intent only: ``filterChanged`` when the user types or picks a
status or a time range (debounced, so typing does not flood the server), ``flowSelected``
when a row becomes the current one, ``bulkRequested`` when the user applies
Retry failed, Cancel or Delete to the selected rows (several with Ctrl or
Shift). Progress and the summary of a bulk action are shown under the table
(``bulk_progress``, ``bulk_finished``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from backend.schemas import BulkAction, FlowStatus
from desktop.bulk import BulkOutcome
from desktop.models.flow_list import Column, FlowListModel, FlowRole
from desktop.widgets.progress_delegate import ProgressDelegate

TIME_RANGES: tuple[tuple[str, int | None], ...] = (
    ("Any time", None),
    ("Last hour", 3600),
    ("Last 24 hours", 24 * 3600),
    ("Last 7 days", 7 * 24 * 3600),
)


class FlowListPanel(QWidget):
    flowSelected = Signal(str)
    filterChanged = Signal(object, str, object)  # FlowStatus | None, search, since ISO | None
    bulkRequested = Signal(object, list)  # BulkAction, flow ids

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
        self.since = QComboBox()
        for label, seconds in TIME_RANGES:
            self.since.addItem(label, seconds)
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self.table))
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(Column.STATUS, QHeaderView.ResizeMode.ResizeToContents)
        for column, width in ((Column.PROGRESS, 84), (Column.CREATED, 76), (Column.DURATION, 70)):
            header.resizeSection(column, width)  # the name column keeps the rest
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.status)
        top.addWidget(self.since)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(self._build_bulk_bar())
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self._emit_filter)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.status.currentIndexChanged.connect(lambda _i: self._emit_filter())
        self.since.currentIndexChanged.connect(lambda _i: self._emit_filter())
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(self._on_selection)
        self._shown: str | None = None  # the flow last announced by flowSelected
        # Asked before a bulk Delete; tests answer it themselves.
        self.confirm: Callable[[str], bool] = self._ask

    def _build_bulk_bar(self) -> QVBoxLayout:
        self.bulk_buttons: dict[BulkAction, QPushButton] = {}
        buttons = QHBoxLayout()
        for action, text in (
            (BulkAction.RETRY, "Retry failed"),
            (BulkAction.CANCEL, "Cancel"),
            (BulkAction.DELETE, "Delete"),
        ):
            button = QPushButton(text)
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, a=action: self.request_bulk(a))
            buttons.addWidget(button)
            self.bulk_buttons[action] = button
        buttons.addStretch(1)
        self.bulk_progress_bar = QProgressBar()
        self.bulk_progress_bar.hide()
        buttons.addWidget(self.bulk_progress_bar)
        self.bulk_summary = QLabel()
        self.bulk_summary.setWordWrap(True)
        self.bulk_summary.hide()
        bar = QVBoxLayout()
        bar.addLayout(buttons)
        bar.addWidget(self.bulk_summary)
        return bar

    def selected_flows(self) -> list[str]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [str(self.model.index(r, 0).data(FlowRole.FLOW_ID)) for r in rows]

    def request_bulk(self, action: BulkAction) -> None:
        ids = self.selected_flows()
        if not ids:
            return
        if action is BulkAction.DELETE and not self.confirm(f"Delete {len(ids)} flow(s)?"):
            return
        for button in self.bulk_buttons.values():
            button.setEnabled(False)
        self.bulk_summary.hide()
        self.bulk_progress(0, len(ids))
        self.bulkRequested.emit(action, ids)

    def bulk_progress(self, finished: int, total: int) -> None:
        self.bulk_progress_bar.setRange(0, total)
        self.bulk_progress_bar.setValue(finished)
        self.bulk_progress_bar.setFormat(f"{finished}/{total}")
        self.bulk_progress_bar.show()

    def bulk_finished(self, outcome: BulkOutcome) -> None:
        self.bulk_progress_bar.hide()
        self.bulk_summary.setText(outcome.summary())
        self.bulk_summary.setToolTip("\n".join(f"{f}: {why}" for f, why in outcome.failed.items()))
        self.bulk_summary.show()
        self._enable_bulk()

    def _ask(self, question: str) -> bool:
        answer = QMessageBox.question(self, "Flowdesk", question)
        return answer == QMessageBox.StandardButton.Yes

    def _enable_bulk(self) -> None:
        busy = self.bulk_progress_bar.isVisible()
        for button in self.bulk_buttons.values():
            button.setEnabled(bool(self.selected_flows()) and not busy)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def selected_flow(self) -> str | None:
        """The current row's flow, if it is selected (the one the other views show)."""
        current = self.table.selectionModel().currentIndex()
        if not current.isValid() or not self.table.selectionModel().isRowSelected(current.row()):
            rows = self.table.selectionModel().selectedRows()
            return None if not rows else str(rows[0].data(FlowRole.FLOW_ID))
        return str(self.model.index(current.row(), 0).data(FlowRole.FLOW_ID))

    def select_flow(self, flow_id: str) -> bool:
        row = self.model.row_of(flow_id)
        if row < 0:
            return False
        self.table.selectRow(row)
        return True

    def _emit_filter(self) -> None:
        seconds = self.since.currentData()
        since = None
        if isinstance(seconds, int):
            moment = datetime.now(UTC) - timedelta(seconds=seconds)
            since = moment.isoformat(timespec="milliseconds")  # as the server writes times
        self.filterChanged.emit(self.status.currentData(), self.search.text().strip(), since)

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._enable_bulk()
        flow_id = self.selected_flow()
        if flow_id is not None and flow_id != self._shown:  # not again for a Ctrl+click
            self._shown = flow_id
            self.flowSelected.emit(flow_id)
