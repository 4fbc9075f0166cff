"""Queues and workers: per-queue counts by state and controls, per-task figures, live
workers, throughput chart; the selected queue can be paused and resumed."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.overview import QueueCountsModel, TaskStatsModel, WorkersModel
from desktop.widgets.throughput_chart import ThroughputChart


class QueuesPage(QWidget):
    pauseRequested = Signal(str, bool)  # queue name, paused wanted

    def __init__(
        self,
        queues: QueueCountsModel,
        workers: WorkersModel,
        parent: QWidget | None = None,
        *,
        tasks: TaskStatsModel | None = None,
    ) -> None:
        super().__init__(parent)
        self.queues_table = QTableView()
        self.queues_table.setModel(queues)
        self.queues_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.queues_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queues = queues
        self.pause_button = QPushButton("Pause / resume the selected queue")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.workers_table = QTableView()
        self.workers_table.setModel(workers)
        self.tasks_table = QTableView()
        self.tasks_table.setModel(tasks or TaskStatsModel(self))
        for table in (self.queues_table, self.tasks_table, self.workers_table):
            table.verticalHeader().hide()
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.chart = ThroughputChart()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Queues</b>"))
        layout.addWidget(self.queues_table, 2)
        layout.addWidget(self.pause_button)
        layout.addWidget(QLabel("<b>Tasks, last hour</b>"))
        layout.addWidget(self.tasks_table, 2)
        layout.addWidget(QLabel("<b>Live workers</b>"))
        layout.addWidget(self.workers_table, 2)
        layout.addWidget(self.chart, 2)

    def _toggle_pause(self) -> None:
        rows = self.queues_table.selectionModel().selectedRows()
        queue = self.queues.queue_at(rows[0].row()) if rows else None
        if queue is not None:
            self.pauseRequested.emit(queue.name, not queue.paused)
