"""The selected flow's jobs as a sortable, filterable table.

It forwards intent only: ``jobSelected`` when a row is chosen. The main
window shares the selection with the tree (a job chosen here is revealed
and centred there, and the other way round) through ``select_job``. While
the table is shown, rows that live updates moved out of their sort or
filter are put back in place once every ``REORDER_MS``.
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

from backend.schemas import JobState
from desktop.models.jobs_table import JOB_ID_ROLE, JobColumn, JobsTableModel
from desktop.theme import STATE_LABELS

REORDER_MS = 1000


class JobsTablePanel(QWidget):
    jobSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = JobsTableModel(self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter jobs by name, queue, id or worker…")
        self.search.setClearButtonEnabled(True)
        self.state = QComboBox()
        self.state.addItem("All states", None)
        for state in JobState:
            self.state.addItem(STATE_LABELS.get(state.value, state.value), state)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(
            -1, Qt.SortOrder.AscendingOrder
        )  # tree order
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(JobColumn.NAME, QHeaderView.ResizeMode.Stretch)
        # A fixed width: ResizeToContents measures rows again on every live update.
        # The name column keeps the rest; worker ids (host-pid-suffix) are elided in
        # the middle, so both ends stay readable (the tooltip has the whole id).
        for column, width in (
            (JobColumn.STATE, 150),
            (JobColumn.QUEUE, 90),
            (JobColumn.ATTEMPTS, 72),
            (JobColumn.STARTED, 76),
            (JobColumn.DURATION, 76),
            (JobColumn.WORKER, 170),
        ):
            header.resizeSection(column, width)
        self.table.setWordWrap(False)  # else a wrapped id is cut at its first line
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._debounce = QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _text: self._debounce.start())
        self.state.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self._reorder = QTimer(self, interval=REORDER_MS)
        self._reorder.timeout.connect(self._reorder_if_shown)
        self._reorder.start()

    def _reorder_if_shown(self) -> None:
        if self.isVisible():
            self.model.refresh_order()

    def _apply_filter(self) -> None:
        self.model.set_filter(self.state.currentData(), self.search.text())

    def selected_job(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return None if not rows else str(rows[0].data(JOB_ID_ROLE))

    def select_job(self, job_id: str) -> bool:
        """Select and scroll to a job's row; False if the filter hides it."""
        if self.selected_job() == job_id:
            return True
        row = self.model.row_of(job_id)
        if row < 0:
            return False
        index = self.model.index(row, 0)
        self.table.selectRow(row)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            self.jobSelected.emit(job_id)
