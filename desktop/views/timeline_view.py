"""The selected flow's timeline: one bar per job, lanes, the critical path in bold.

Data comes from the pure :mod:`desktop.timeline`; this widget paints only
the rows in view (a 20,000-job flow is 20,000 rows, of which a screenful is
drawn), so drawing costs the same for any size. Each row is one job: the
shaded part is the time it waited to start, the coloured part the time it
ran. Jobs on the critical path are outlined and named in bold. Ctrl+wheel
zooms the time axis around the pointer, the wheel scrolls; hovering a bar
shows the job, clicking selects it (``jobSelected``).

Live updates only mark the timeline stale; it is recomputed at most every
``REFRESH_MS``, and only while it is on screen, so a burst of updates costs
one recomputation, not one per update. The recomputation (a pure function
of the flow's records, about 0.1 s for 20,000 jobs) runs on a snapshot of
the records in steps of a few milliseconds (:func:`desktop.timeline.compute_steps`),
other work running between two steps, and its result replaces the shown one
only if nothing newer was asked meanwhile. (A worker thread was tried
first: the cyclic garbage collector, which stops every thread, and the
GIL's hand-over under load still stalled the loop for 150 ms.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QComboBox,
    QHBoxLayout,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from backend.schemas import FlowJobResponse
from desktop.theme import STATE_LABELS, state_color
from desktop.timeline import EMPTY, Bar, LaneBy, Timeline, compute, compute_steps, duration_text

ROW = 16
AXIS = 22  # the time axis above the rows
LABEL = 170  # the job names' column
REFRESH_MS = 1000
MAX_ZOOM = 10_000.0
CRITICAL_COLOR = QColor("#1b1b1b")  # the critical path's outline and stripe


def now_ms() -> int:
    return int(time.time() * 1000)


class TimelineView(QAbstractScrollArea):
    jobSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lane_by = LaneBy.DEPTH
        self.root: str | None = None
        self.jobs: Mapping[str, FlowJobResponse] = {}
        self.data: Timeline = EMPTY
        self._critical_set: set[str] = set()
        self.zoom = 1.0
        self.selected: str | None = None
        self._stale = False
        self._generation = 0  # bumped by every request; a late result is dropped
        self._computing: asyncio.Task[None] | None = None
        self._refresh = QTimer(self, interval=REFRESH_MS)
        self._refresh.timeout.connect(self._refresh_if_stale)
        self._refresh.start()
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(ROW)

    # --- content ---------------------------------------------------------------

    @property
    def rows(self) -> tuple[Bar | str, ...]:
        return self.data.rows

    @property
    def row_of(self) -> Mapping[str, int]:
        return self.data.row_of

    @property
    def critical(self) -> list[str]:
        return list(self.data.critical)

    @property
    def window_ms(self) -> tuple[int, int] | None:
        return self.data.window

    def show_jobs(self, root: str, jobs: Mapping[str, FlowJobResponse]) -> None:
        """Show a flow (``jobs`` is read again on every recomputation), when on screen."""
        if root != self.root:
            self.zoom = 1.0
            self.selected = None
            self._show(EMPTY)
        self.root, self.jobs = root, jobs
        self.mark_stale()
        if self.isVisible():
            self.refresh()

    def mark_stale(self) -> None:
        self._stale = True

    def set_lane_by(self, by: LaneBy) -> None:
        self.lane_by = by
        self.recompute()

    def recompute(self, now: int | None = None) -> None:
        """Compute and show the timeline now, on this thread."""
        self._generation += 1
        self._stale = False
        moment = now_ms() if now is None else now
        self._show(self._compute(dict(self.jobs), moment))

    def refresh(self) -> None:
        """Recompute in steps on the loop; show the result if nothing newer was asked."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no asyncio loop (a bare Qt test): compute here
            self.recompute()
            return
        self._generation += 1
        self._stale = False
        generation = self._generation
        snapshot = dict(self.jobs)  # the records are immutable; the dict is not

        async def run() -> None:
            if self.root is None:
                self._show(EMPTY)
                return
            steps = compute_steps(self.root, snapshot, self.lane_by, now_ms())
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    if generation == self._generation:
                        self._show(done.value)
                    return
                await asyncio.sleep(0)  # let the loop run between two steps
                if generation != self._generation:
                    return  # a newer request (or stop) replaced this one

        self._computing = loop.create_task(run())

    def _compute(self, jobs: Mapping[str, FlowJobResponse], now: int) -> Timeline:
        return EMPTY if self.root is None else compute(self.root, jobs, self.lane_by, now)

    def _show(self, data: Timeline) -> None:
        self.data = data
        self._critical_set = set(data.critical)
        self._update_scrollbars()
        self.viewport().update()

    def _refresh_if_stale(self) -> None:
        # Running bars grow with the clock, so a running flow is always stale. A
        # computation still under way (a slow machine) finishes first: restarting
        # it every tick would never show anything.
        busy = self._computing is not None and not self._computing.done()
        if (self._stale or self.data.running) and self.isVisible() and not busy:
            self.refresh()

    def stop(self) -> None:
        """Stop refreshing and drop a computation under way (the window closes)."""
        self._refresh.stop()
        self._generation += 1
        if self._computing is not None:
            self._computing.cancel()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    # --- geometry --------------------------------------------------------------

    def chart_width(self) -> float:
        return max(10.0, self.viewport().width() - LABEL - 8)

    def x_of(self, t: int) -> float:
        if self.window_ms is None:
            return LABEL
        t0, t1 = self.window_ms
        scale = self.chart_width() * self.zoom / max(1, t1 - t0)
        return LABEL + (t - t0) * scale - self.horizontalScrollBar().value()

    def _update_scrollbars(self) -> None:
        rows_px = len(self.rows) * ROW
        v = self.verticalScrollBar()
        v.setRange(0, max(0, rows_px - (self.viewport().height() - AXIS)))
        v.setPageStep(max(ROW, self.viewport().height() - AXIS))
        h = self.horizontalScrollBar()
        h.setRange(0, int(self.chart_width() * (self.zoom - 1)))
        h.setPageStep(int(self.chart_width()))

    def row_at(self, y: float) -> int:
        if y < AXIS:
            return -1
        row = int((y - AXIS + self.verticalScrollBar().value()) // ROW)
        return row if 0 <= row < len(self.rows) else -1

    def bar_at(self, point: QPoint) -> Bar | None:
        row = self.row_at(point.y())
        found = self.rows[row] if row >= 0 else None
        return found if isinstance(found, Bar) else None

    # --- selection -------------------------------------------------------------

    def select_job(self, job_id: str) -> None:
        self.selected = job_id
        row = self.row_of.get(job_id)
        if row is not None:
            v = self.verticalScrollBar()
            top, visible = row * ROW, self.viewport().height() - AXIS
            if not v.value() <= top <= v.value() + visible - ROW:
                v.setValue(max(0, top - visible // 2))
        self.viewport().update()

    # --- events ----------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_scrollbars()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(event)
            return
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.zoom_by(factor, event.position().x())
        event.accept()

    def zoom_by(self, factor: float, at_x: float | None = None) -> None:
        """Zoom the time axis, keeping the time under ``at_x`` (default: centre) in place."""
        h = self.horizontalScrollBar()
        anchor = (LABEL + self.chart_width() / 2) if at_x is None else max(LABEL, at_x)
        offset = anchor - LABEL + h.value()
        old = self.zoom
        self.zoom = min(MAX_ZOOM, max(1.0, self.zoom * factor))
        self._update_scrollbars()
        h.setValue(int(offset * self.zoom / old - (anchor - LABEL)))
        self.viewport().update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        bar = self.bar_at(event.position().toPoint())
        if bar is not None:
            self.select_job(bar.job_id)
            self.jobSelected.emit(bar.job_id)
            event.accept()
            return
        super().mousePressEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            bar = self.bar_at(event.pos())
            if bar is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(
                    event.globalPos(), tooltip(bar, bar.job_id in self._critical_set), self
                )
            return True
        return super().viewportEvent(event)

    # --- painting --------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        palette = self.palette()
        height = self.viewport().height()
        first = self.verticalScrollBar().value() // ROW
        last = min(len(self.rows), first + (height - AXIS) // ROW + 2)
        y = AXIS - self.verticalScrollBar().value() % ROW
        for i in range(first, last):
            self._paint_row(painter, palette, self.rows[i], y)
            y += ROW
        self._paint_axis(painter, palette)

    def _paint_row(self, painter: QPainter, palette: QPalette, row: Bar | str, y: float) -> None:
        width = self.viewport().width()
        text = palette.color(QPalette.ColorRole.Text)
        if isinstance(row, str):
            painter.fillRect(
                QRectF(0, y, width, ROW), palette.color(QPalette.ColorRole.AlternateBase)
            )
            font = QFont(self.font())
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(text)
            painter.drawText(QRectF(4, y, width, ROW), Qt.AlignmentFlag.AlignVCenter, row)
            return
        if row.job_id == self.selected:
            painter.fillRect(
                QRectF(0, y, width, ROW), palette.color(QPalette.ColorRole.Highlight).lighter(170)
            )
        critical = row.job_id in self._critical_set
        if critical:  # a stripe down the names: the chain reads at a glance
            painter.fillRect(QRectF(2, y + 1, 5, ROW - 2), CRITICAL_COLOR)
        font = QFont(self.font())
        font.setBold(critical)
        painter.setFont(font)
        painter.setPen(text)
        painter.drawText(QRectF(12, y, LABEL - 16, ROW), Qt.AlignmentFlag.AlignVCenter, row.name)
        painter.setClipRect(QRectF(LABEL, y, width - LABEL, ROW))
        if row.ready is not None and row.start is not None and row.start > row.ready:
            x0, x1 = self.x_of(row.ready), self.x_of(row.start)
            painter.fillRect(
                QRectF(x0, y + 5, max(1.0, x1 - x0), ROW - 10),
                palette.color(QPalette.ColorRole.Mid),
            )
        if row.start is not None and row.end is not None:
            x0, x1 = self.x_of(row.start), self.x_of(row.end)
            rect = QRectF(x0, y + 2, max(2.0, x1 - x0), ROW - 4)
            painter.fillRect(rect, state_color(row.status))
            if critical:
                painter.setPen(QPen(CRITICAL_COLOR, 2))
                painter.drawRect(rect.adjusted(-1, -1, 1, 1))
        painter.setClipping(False)

    def _paint_axis(self, painter: QPainter, palette: QPalette) -> None:
        width = self.viewport().width()
        painter.fillRect(QRectF(0, 0, width, AXIS), palette.color(QPalette.ColorRole.Window))
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.setFont(self.font())
        if self.window_ms is None:
            painter.drawText(
                QRectF(4, 0, width, AXIS), Qt.AlignmentFlag.AlignVCenter, "nothing has run yet"
            )
            return
        t0, t1 = self.window_ms
        length = t1 - t0
        painter.drawText(
            QRectF(4, 0, LABEL, AXIS),
            Qt.AlignmentFlag.AlignVCenter,
            f"critical path: {len(self.critical)} jobs",
        )
        for k in range(6):
            t = (
                t0 + length * k // 5
                if self.zoom == 1.0
                else self._time_at(LABEL + self.chart_width() * k / 5)
            )
            x = self.x_of(t)
            painter.drawLine(int(x), AXIS - 5, int(x), AXIS)
            painter.drawText(
                QRectF(x + 2, 0, 90, AXIS),
                Qt.AlignmentFlag.AlignVCenter,
                duration_text(t - t0) or "0 ms",
            )

    def _time_at(self, x: float) -> int:
        assert self.window_ms is not None
        t0, t1 = self.window_ms
        scale = self.chart_width() * self.zoom / max(1, t1 - t0)
        return t0 + int((x - LABEL + self.horizontalScrollBar().value()) / scale)


def tooltip(bar: Bar, critical: bool) -> str:
    lines = [f"{bar.name} ({bar.job_id})", STATE_LABELS.get(bar.status, bar.status)]
    if bar.ready is not None and bar.start is not None:
        lines.append(f"waited {duration_text(bar.start - bar.ready) or '0 ms'}")
    if bar.start is not None and bar.end is not None:
        lines.append(f"ran {duration_text(bar.end - bar.start) or '0 ms'}")
    if bar.worker is not None:
        lines.append(f"on worker {bar.worker}")
    if critical:
        lines.append("on the critical path")
    return "\n".join(lines)


class TimelinePanel(QWidget):
    """The timeline with its lane choice (by depth, queue or worker) and zoom buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = TimelineView()
        self.lanes = QComboBox()
        for by in LaneBy:
            self.lanes.addItem(f"Lanes {by.value}", by)
        zoom_in, zoom_out, fit = QPushButton("Zoom in"), QPushButton("Zoom out"), QPushButton("Fit")
        zoom_in.clicked.connect(lambda: self.view.zoom_by(1.5))
        zoom_out.clicked.connect(lambda: self.view.zoom_by(1 / 1.5))
        fit.clicked.connect(lambda: self.view.zoom_by(1 / self.view.zoom))
        self.lanes.currentIndexChanged.connect(
            lambda _i: self.view.set_lane_by(self.lanes.currentData())
        )
        top = QHBoxLayout()
        top.addWidget(self.lanes)
        top.addStretch(1)
        for button in (zoom_in, zoom_out, fit):
            top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
