"""Schedules: the list with next and last runs, and the actions on the selected one."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.schedules import ScheduleListModel

ACTIONS = ("run", "pause", "resume", "delete")


class SchedulesPage(QWidget):
    newRequested = Signal()
    actionRequested = Signal(str, str)  # action (one of ACTIONS), schedule id

    def __init__(self, model: ScheduleListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.table = QTableView()
        self.table.setModel(model)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.new_button = QPushButton("New schedule…")
        self.new_button.clicked.connect(self.newRequested.emit)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        for action, label in zip(ACTIONS, ("Run now", "Pause", "Resume", "Delete"), strict=True):
            button = QPushButton(label)
            button.clicked.connect(lambda _checked=False, a=action: self._act(a))
            self.buttons[action] = button
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table)

    def _act(self, action: str) -> None:
        rows = self.table.selectionModel().selectedRows()
        schedule = self.model.schedule_at(rows[0].row()) if rows else None
        if schedule is not None:
            self.actionRequested.emit(action, schedule.id)
