"""The selected flow drawn as a tidy tree in a QGraphicsView.

Positions come from the pure :func:`desktop.layout.layout`; this view only
creates one :class:`JobNodeItem` per visible job and one path item for all
edges. A job update with the same children swaps the card's record (one
repaint, plus a short colour fade on a change of state); a change of shape
or a collapse/expand lays the tree out again.
Zoom with the wheel or the window's shortcuts, pan by dragging, double-click
a card to collapse or expand its subtree.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPainterPath, QPalette, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QGraphicsView, QWidget

from backend.schemas import FlowJobResponse
from desktop.layout import Layout, LayoutOptions, layout
from desktop.widgets.node_item import Fader, JobNodeItem

ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 4.0


class FlowTreeView(QGraphicsView):
    jobSelected = Signal(str)  # job id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.options = LayoutOptions()
        self.root_id: str | None = None
        self.jobs: dict[str, FlowJobResponse] = {}
        self.collapsed: set[str] = set()
        self.nodes: dict[str, JobNodeItem] = {}
        self.current_layout: Layout | None = None
        self._edges: QGraphicsPathItem | None = None
        self.fader = Fader(self)
        self.scene().selectionChanged.connect(self._on_selection)

    # --- content ---------------------------------------------------------------

    def clear(self) -> None:
        self.fader.clear()
        self.scene().clear()
        self.nodes = {}
        self.jobs = {}
        self.root_id = None
        self.collapsed = set()
        self._edges = None
        self.current_layout = None

    def show_jobs(self, root_id: str, jobs: Mapping[str, FlowJobResponse]) -> None:
        """Draw a whole flow (replacing whatever was shown)."""
        same_flow = self.root_id == root_id
        collapsed = self.collapsed if same_flow else set()
        self.clear()
        self.root_id = root_id
        self.jobs = dict(jobs)
        self.collapsed = {c for c in collapsed if c in self.jobs}
        self._rebuild()
        if not same_flow:
            self.fit()

    def update_job(self, job: FlowJobResponse) -> None:
        """Apply one live update, repainting only that card when possible."""
        previous = self.jobs.get(job.job_id)
        self.jobs[job.job_id] = job
        item = self.nodes.get(job.job_id)
        if previous is not None and previous.children == job.children:
            if item is not None and item.set_job(job):
                self.fader.add(item)
            return
        if self.root_id is not None and job.job_id in self.jobs:
            self._rebuild()

    def toggle_collapsed(self, job_id: str) -> None:
        if not self.jobs.get(job_id, None) or not self.jobs[job_id].children:
            return
        self.collapsed ^= {job_id}
        self._rebuild()

    def _children(self, job_id: str) -> tuple[str, ...]:
        job = self.jobs.get(job_id)
        return () if job is None else tuple(c for c in job.children if c in self.jobs)

    def _rebuild(self) -> None:
        scene = self.scene()
        selected = self.selected_job()
        self.fader.clear()
        scene.clear()
        self.nodes = {}
        if self.root_id is None or self.root_id not in self.jobs:
            return
        result = layout(self.root_id, self._children, self.collapsed, self.options)
        self.current_layout = result
        opts = self.options
        path = QPainterPath()
        for parent, child in result.edges:
            p, c = result.positions[parent], result.positions[child]
            start = QPointF(p.x + opts.node_width / 2, p.y + opts.node_height)
            end = QPointF(c.x + opts.node_width / 2, c.y)
            mid = (start.y() + end.y()) / 2
            path.moveTo(start)
            path.cubicTo(QPointF(start.x(), mid), QPointF(end.x(), mid), end)
        edges = QGraphicsPathItem(path)
        edges.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1.2))
        edges.setZValue(-1)
        scene.addItem(edges)
        self._edges = edges
        for job_id, pos in result.positions.items():
            item = JobNodeItem(self.jobs[job_id], opts.node_width, opts.node_height)
            item.setPos(pos.x, pos.y)
            if job_id in self.collapsed:
                item.collapsed = True
                item.hidden_children = len(self.jobs[job_id].children)
            scene.addItem(item)
            self.nodes[job_id] = item
        margin = 40
        scene.setSceneRect(
            QRectF(-margin, -margin, result.width + 2 * margin, result.height + 2 * margin)
        )
        if selected in self.nodes:
            self.nodes[selected].setSelected(True)

    # --- selection -------------------------------------------------------------

    def selected_job(self) -> str | None:
        for item in self.scene().selectedItems():
            if isinstance(item, JobNodeItem):
                return item.job.job_id
        return None

    def select_job(self, job_id: str) -> None:
        item = self.nodes.get(job_id)
        if item is not None:
            self.scene().clearSelection()
            item.setSelected(True)
            self.centerOn(item)

    def _on_selection(self) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            self.jobSelected.emit(job_id)

    # --- zoom and pan ----------------------------------------------------------

    def zoom_factor(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        target = min(MAX_SCALE, max(MIN_SCALE, self.zoom_factor() * factor))
        ratio = target / self.zoom_factor()
        self.scale(ratio, ratio)

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def fit(self) -> None:
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom_factor() > 1.0:
            self.resetTransform()
            self.centerOn(rect.center().x(), rect.top())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(ZOOM_STEP if delta > 0 else 1 / ZOOM_STEP)
            event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, JobNodeItem):
            self.toggle_collapsed(item.job.job_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)
