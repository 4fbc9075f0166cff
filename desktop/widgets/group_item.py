"""A group node in the flow tree: "300 x sleep", a state bar, marks and two links.

The card paints itself from its :class:`desktop.grouping.Group` (whose
counters the grouping keeps current), so a live update is ``refresh()``: one
repaint of this card, never a relayout. Its lower line holds two links,
"show more" (the next page of members) and "show failed"; a click on
either is handed to ``on_action(group id, action)``, which the tree view
turns into a new layout. A red border and a line of marks tell what is
inside when a member or a job below one is failed, active, or holds a
stuck flow: nothing that needs an operator hides without a sign.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QFont, QFontMetricsF, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from backend.schemas import JobState
from desktop.grouping import TIMES, Group, Grouping, attention, state_shares
from desktop.theme import STUCK_COLOR, state_color
from desktop.widgets.node_item import PLAIN_LOD


class GroupAction(StrEnum):
    MORE = "more"
    FAILED = "failed"
    FOLD = "fold"


ActionSink = Callable[[str, GroupAction], None]
LINK_Y = 52.0  # top of the links' line inside the card
LINK_H = 16.0


def link_font(base: QFont) -> QFont:
    """The card's small font (marks and links), from the application's."""
    font = QFont(base)
    font.setBold(False)
    font.setPointSizeF(max(6.0, base.pointSizeF() * 0.9))
    return font


class GroupNodeItem(QGraphicsItem):
    def __init__(
        self,
        group: Group,
        grouping: Grouping,
        width: float,
        height: float,
        on_action: ActionSink,
        *,
        stuck_job: str | None = None,
    ) -> None:
        super().__init__()
        self.record = group
        self.grouping = grouping
        self.stuck_job = stuck_job
        self.on_action = on_action
        self._rect = QRectF(0, 0, width, height)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.refresh()

    # --- content ---------------------------------------------------------------

    def marks(self) -> list[str]:
        return attention(self.record, self.stuck_job, self.grouping)

    def refresh(self) -> None:
        """The group's numbers changed: new tooltip, one repaint."""
        marks = self.marks()
        tip = self.record.summary()
        if marks:
            tip += "\ninside: " + ", ".join(marks)
        self.setToolTip(tip)
        self.update()

    def links(self) -> list[tuple[GroupAction, str, QRectF]]:
        """The clickable links and where they are, in item coordinates."""
        group = self.record
        shown = len(self.grouping.visible_members(group))
        out: list[tuple[GroupAction, str]] = []
        if group.failed_only or shown < len(group.members):
            more = min(self.grouping.page, len(group.members) - shown)
            out.append((GroupAction.MORE, f"+{more} more" if more else "show all"))
        if group.counts.get(JobState.FAILED, 0) and not group.failed_only:
            out.append((GroupAction.FAILED, "show failed"))
        if shown:
            out.append((GroupAction.FOLD, "fold"))
        metrics = QFontMetricsF(link_font(QApplication.font()))
        x = self._rect.x() + 14
        placed = []
        for action, text in out:
            width = metrics.horizontalAdvance(text) + 2
            placed.append((action, text, QRectF(x, LINK_Y, width, LINK_H)))
            x += width + 10
        return placed

    def action_at(self, point: QPointF) -> GroupAction | None:
        for action, _text, rect in self.links():
            if rect.contains(point):
                return action
        return None

    # --- QGraphicsItem ---------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-3, -3, 3, 3)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        action = self.action_at(event.pos())
        if action is not None:
            event.accept()
            self.on_action(self.record.id, action)
            return
        super().mousePressEvent(event)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        palette = QApplication.palette()
        marks = self.marks()
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        if lod < PLAIN_LOD:
            self._paint_bar(painter, self._rect)
            if marks:
                painter.setPen(QPen(state_color(JobState.FAILED.value), 6))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(self._rect)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        urgent = bool(marks) and (self.record.inside.get(JobState.FAILED, 0) or "stuck" in marks)
        border = (
            state_color(JobState.FAILED.value) if urgent else palette.color(QPalette.ColorRole.Mid)
        )
        if self.isSelected():
            border = palette.color(QPalette.ColorRole.Highlight)
        painter.setPen(
            QPen(border, 2.5 if urgent or self.isSelected() else 1.2, Qt.PenStyle.DashLine)
        )
        painter.setBrush(QBrush(palette.color(QPalette.ColorRole.AlternateBase)))
        painter.drawRoundedRect(self._rect, 8, 8)
        x, w = self._rect.x() + 14, self._rect.width() - 24
        font = QFont(QApplication.font())  # not the painter's: the view does not reset it
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        title = f"{len(self.record.members)} {TIMES} {self.record.name}"
        painter.drawText(QRectF(x, 4, w, 18), Qt.TextFlag.TextSingleLine, title)
        self._paint_bar(painter, QRectF(x, 23, w, 7))
        font = link_font(font)
        painter.setFont(font)
        painter.setPen(STUCK_COLOR if "stuck" in marks else state_color(JobState.FAILED.value))
        text = " · ".join(marks) if marks else self._done_text()
        if not marks:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRectF(x, 33, w, 16), Qt.TextFlag.TextSingleLine, text)
        painter.setPen(palette.color(QPalette.ColorRole.Link))
        underline = QFont(font)
        underline.setUnderline(True)
        painter.setFont(underline)  # same advances as ``font``: the links' rects hold
        for _action, label, rect in self.links():
            painter.drawText(rect, Qt.TextFlag.TextSingleLine, label)

    def _done_text(self) -> str:
        done = sum(n for s, n in self.record.counts.items() if s.finished)
        return f"{done}/{len(self.record.members)} finished"

    def _paint_bar(self, painter: QPainter, rect: QRectF) -> None:
        x = rect.x()
        for state, share in state_shares(self.record.counts):
            width = rect.width() * share
            painter.fillRect(QRectF(x, rect.y(), width, rect.height()), state_color(state.value))
            x += width
