"""Queues and workers: per-queue counts by state, per-task figures, live workers, throughput."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from desktop.models.overview import QueueCountsModel, TaskStatsModel, WorkersModel
from desktop.widgets.throughput_chart import ThroughputChart


class QueuesPage(QWidget):
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
        layout.addWidget(QLabel("<b>Tasks, last hour</b>"))
        layout.addWidget(self.tasks_table, 2)
        layout.addWidget(QLabel("<b>Live workers</b>"))
        layout.addWidget(self.workers_table, 2)
        layout.addWidget(self.chart, 2)
