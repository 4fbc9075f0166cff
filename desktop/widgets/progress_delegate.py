"""Paints the flow list's progress column as a bar of done/total jobs.

The bar takes the flow's state colour (stuck flows the stuck colour), so a
glance down the column finds the flows that need attention; the text and
the status column still say it in words.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from desktop.models.flow_list import FlowRole
from desktop.theme import STUCK_COLOR, state_color


class ProgressDelegate(QStyledItemDelegate):
    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        done = index.data(FlowRole.DONE)
        total = index.data(FlowRole.TOTAL)
        if not isinstance(done, int) or not isinstance(total, int):
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = max(total, 1)
        bar.progress = min(done, bar.maximum)
        bar.text = f"{done}/{total}"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state
        bar.palette = QPalette(option.palette)
        stuck = bool(index.data(FlowRole.STUCK))
        color = STUCK_COLOR if stuck else state_color(str(index.data(FlowRole.STATUS)))
        bar.palette.setColor(QPalette.ColorRole.Highlight, color)
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
