"""One job drawn as a card in the flow tree: name, queue, state, attempts, progress.

The card paints itself from its :class:`FlowJobResponse`; a live update swaps the
record and calls ``update()``, so only this card's rectangle is repainted.
When zoomed far out (level of detail below ``PLAIN_LOD``) it paints a plain
coloured box and changes colour without a fade, which keeps 20,000-node
trees fluid.

A change of state is not a jump: for ``FADE_SECONDS`` the card's colour
blends from the old state's colour to the new one. The card only knows where
in the fade it is (from the clock); :class:`Fader` repaints the fading cards
on one shared timer and stops when none is left, so an idle tree costs
nothing and a burst of updates costs one timer, not one animation per card.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QStyle, QStyleOptionGraphicsItem, QWidget

from backend.schemas import FlowJobResponse
from desktop.client.wire import attempts_allowed
from desktop.theme import STATE_LABELS, state_color, state_icon


def progress_fraction(progress: object) -> float | None:
    """A 0..1 fraction from a task's progress (a number 0..100, or {"percent"})."""
    value = progress.get("percent") if isinstance(progress, dict) else progress
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, min(1.0, float(value) / 100))
    return None


FADE_SECONDS = 0.3
PLAIN_LOD = 0.35  # below this level of detail a card is a plain coloured box


def blend(start: QColor, end: QColor, t: float) -> QColor:
    """The colour ``t`` of the way (0..1) from ``start`` to ``end``."""
    t = max(0.0, min(1.0, t))
    return QColor.fromRgbF(
        start.redF() + (end.redF() - start.redF()) * t,
        start.greenF() + (end.greenF() - start.greenF()) * t,
        start.blueF() + (end.blueF() - start.blueF()) * t,
    )


class JobNodeItem(QGraphicsItem):
    def __init__(self, job: FlowJobResponse, width: float, height: float) -> None:
        super().__init__()
        self.job = job
        self.collapsed = False
        self.hidden_children = 0
        self._rect = QRectF(0, 0, width, height)
        self._bounds = self._rect.adjusted(-2, -2, 2, 2)  # asked for on every paint and hit test
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(False)
        self.setToolTip(f"{job.name} ({job.job_id})")
        self._fade_from: QColor | None = None
        self._fade_start = 0.0

    def set_job(self, job: FlowJobResponse, now: float | None = None, *, fade: bool = True) -> bool:
        """Show a newer record; True if the state changed and a fade began.

        ``fade=False`` (a view zoomed out so far that cards are plain boxes)
        switches colour at once: one repaint instead of one per frame.
        """
        previous, self.job = self.job, job
        fades = fade and previous.status is not job.status
        if not fade:
            self._fade_from = None
        if fades:
            moment = time.monotonic() if now is None else now
            self._fade_from = self.color(moment, previous)  # mid-fade: from where it is
            self._fade_start = moment
        self.update()
        return fades

    def color(self, now: float | None = None, job: FlowJobResponse | None = None) -> QColor:
        """The card's state colour at ``now`` (blended while a fade runs)."""
        target = state_color((job or self.job).status.value)
        if self._fade_from is None or job is not None:
            return target
        moment = time.monotonic() if now is None else now
        t = (moment - self._fade_start) / FADE_SECONDS
        return target if t >= 1 else blend(self._fade_from, target, t)

    def fading(self, now: float) -> bool:
        if self._fade_from is not None and now - self._fade_start >= FADE_SECONDS:
            self._fade_from = None
        return self._fade_from is not None

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        color = self.color()
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        if lod < PLAIN_LOD:  # the fast path: at "fit" thousands of cards are painted
            painter.fillRect(self._rect, color)
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = QApplication.palette()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        border = palette.color(QPalette.ColorRole.Highlight) if selected else color
        painter.setPen(QPen(border, 3 if selected else 1.5))
        painter.setBrush(QBrush(palette.color(QPalette.ColorRole.Base)))
        painter.drawRoundedRect(self._rect, 8, 8)
        stripe = QRectF(self._rect.x(), self._rect.y(), 8, self._rect.height())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(stripe, 4, 4)
        self._paint_text(painter, palette, color)

    def _paint_text(self, painter: QPainter, palette: QPalette, color: QColor) -> None:
        job = self.job
        text_color = palette.color(QPalette.ColorRole.Text)
        x, w = self._rect.x() + 14, self._rect.width() - 20
        font = QFont(QApplication.font())  # not the painter's: the view does not reset it
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(text_color)
        name = job.name + (f"  [+{self.hidden_children}]" if self.collapsed else "")
        painter.drawText(QRectF(x, 4, w, 18), Qt.TextFlag.TextSingleLine, name)
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        attempts = f"attempt {job.attempts_made}/{attempts_allowed(job)}"
        painter.drawText(QRectF(x, 22, w, 16), 0, f"{job.queue_name} · {attempts}")
        painter.setPen(color.darker(115))
        state = job.status.value
        state_icon(state).paint(painter, QRect(int(x), 41, 14, 14))
        painter.drawText(QRectF(x + 18, 40, w - 18, 16), 0, STATE_LABELS.get(state, state))
        fraction = progress_fraction(job.progress)
        if fraction is not None and not job.status.finished:
            track = QRectF(x, self._rect.height() - 9, w, 4)
            painter.fillRect(track, palette.color(QPalette.ColorRole.Midlight))
            painter.fillRect(QRectF(x, track.y(), w * fraction, 4), color)


class Fader(QObject):
    """Repaints fading cards on one timer while any fade runs."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 33) -> None:
        super().__init__(parent)
        self._items: dict[int, JobNodeItem] = {}  # by id(): a card fades once at a time
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    @property
    def active(self) -> bool:
        return bool(self._items)

    def add(self, item: JobNodeItem) -> None:
        self._items[id(item)] = item
        if not self._timer.isActive():
            self._timer.start()

    def clear(self) -> None:
        """Forget every card (the scene was rebuilt)."""
        self._items = {}
        self._timer.stop()

    def _tick(self) -> None:
        now = time.monotonic()
        still = {}
        for key, item in self._items.items():
            item.update()
            if item.fading(now):
                still[key] = item
        self._items = still
        if not still:
            self._timer.stop()
