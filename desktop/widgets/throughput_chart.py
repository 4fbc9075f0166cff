"""A bar chart of completed/failed jobs per minute, painted with QPainter.

QtCharts is not part of PySide6-Essentials, and two stacked series of 30
bars do not need it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QWidget

from desktop.theme import state_color
from desktop.throughput import Bucket


class ThroughputChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buckets: list[Bucket] = []
        self.setMinimumHeight(140)

    def sizeHint(self) -> QSize:
        return QSize(480, 180)

    def set_buckets(self, buckets: Sequence[Bucket]) -> None:
        self.buckets = list(buckets)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        area = QRectF(self.rect()).adjusted(40, 24, -10, -22)
        painter.setPen(text)
        painter.drawText(
            QRectF(0, 0, self.width(), 20),
            Qt.AlignmentFlag.AlignCenter,
            "Jobs finished per minute (completed / failed)",
        )
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        if not self.buckets:
            return
        peak = max([1] + [b.completed + b.failed for b in self.buckets])
        painter.setPen(text)
        painter.drawText(QRectF(0, area.top() - 8, 36, 16), Qt.AlignmentFlag.AlignRight, str(peak))
        painter.drawText(QRectF(0, area.bottom() - 8, 36, 16), Qt.AlignmentFlag.AlignRight, "0")
        slot = area.width() / len(self.buckets)
        done_color, fail_color = state_color("completed"), state_color("failed")
        for i, bucket in enumerate(self.buckets):
            x = area.left() + i * slot + slot * 0.15
            w = slot * 0.7
            h_done = area.height() * bucket.completed / peak
            h_fail = area.height() * bucket.failed / peak
            painter.fillRect(QRectF(x, area.bottom() - h_done, w, h_done), done_color)
            painter.fillRect(QRectF(x, area.bottom() - h_done - h_fail, w, h_fail), fail_color)
        painter.setPen(text)
        painter.drawText(
            QRectF(area.left(), area.bottom() + 2, area.width(), 18),
            Qt.AlignmentFlag.AlignRight,
            "now",
        )
        painter.drawText(
            QRectF(area.left(), area.bottom() + 2, area.width(), 18),
            Qt.AlignmentFlag.AlignLeft,
            f"-{len(self.buckets)} min",
        )
        painter.end()
