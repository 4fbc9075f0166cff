"""The selected flow drawn as a tidy tree in a QGraphicsView.

Positions come from the pure :func:`desktop.layout.layout` over the visible
tree of :class:`desktop.grouping.Grouping` (a parent with more children than
the threshold shows one group node per task name); this view only creates
one :class:`JobNodeItem` per visible job, one :class:`GroupNodeItem` per
group and one path item for all edges. A job update with the same children
swaps the card's record (one repaint, plus a short colour fade on a change
of state) and repaints the groups that hold it with their new counts; a
change of shape, a collapse/expand or a group's "show more" lays the tree
out again. Going to a job hidden in a group (``select_job``) pins it there.
Zoom with the wheel or the window's shortcuts, pan by dragging, double-click
a card to collapse or expand its subtree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPainterPath, QPalette, QPen, QWheelEvent
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QGraphicsView, QWidget

from backend.schemas import FlowJobResponse
from desktop.grouping import DEFAULT_PAGE, DEFAULT_THRESHOLD, Grouping
from desktop.layout import Layout, LayoutOptions, layout
from desktop.widgets.group_item import GroupAction, GroupNodeItem
from desktop.widgets.node_item import PLAIN_LOD, Fader, JobNodeItem

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
        # Thousands of cards repaint under live updates: the cards set every pen,
        # brush and font they draw with, so the view need not save and restore the
        # painter around each, and their bounds already hold their antialiased edges
        # (measured: the median loop gap under 1,000 updates/s of a 5,000-card tree
        # at "fit" went from about 18 to 10 ms).
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.options = LayoutOptions()
        self.root_id: str | None = None
        self.jobs: dict[str, FlowJobResponse] = {}
        self.collapsed: set[str] = set()
        self.nodes: dict[str, JobNodeItem] = {}
        self.groups: dict[str, GroupNodeItem] = {}
        self.grouping: Grouping | None = None
        self.group_threshold = DEFAULT_THRESHOLD
        self.group_page = DEFAULT_PAGE
        self.stuck_job: str | None = None  # the job that holds the shown flow, if any
        self.current_layout: Layout | None = None
        self._edges: QGraphicsPathItem | None = None
        self.fader = Fader(self)
        self.scene().selectionChanged.connect(self._on_selection)

    # --- content ---------------------------------------------------------------

    def clear(self) -> None:
        self.fader.clear()
        self.scene().clear()
        self.nodes = {}
        self.groups = {}
        self.grouping = None
        self.jobs = {}
        self.root_id = None
        self.collapsed = set()
        self._edges = None
        self.current_layout = None

    def show_jobs(self, root_id: str, jobs: Mapping[str, FlowJobResponse]) -> None:
        """Draw a whole flow (replacing whatever was shown)."""
        same_flow = self.root_id == root_id
        collapsed = self.collapsed if same_flow else set()
        previous = self.grouping if same_flow else None
        self.clear()
        self.root_id = root_id
        self.jobs = dict(jobs)
        self.collapsed = {c for c in collapsed if c in self.jobs}
        self._regroup(previous)
        self._rebuild()
        if not same_flow:
            self.fit()

    def update_job(self, job: FlowJobResponse) -> None:
        """Apply one live update, repainting only that card when possible."""
        previous = self.jobs.get(job.job_id)
        self.jobs[job.job_id] = job
        item = self.nodes.get(job.job_id)
        if previous is not None and previous.children == job.children:
            fade = self.zoom_factor() >= PLAIN_LOD  # fading plain boxes costs, shows nothing
            if item is not None and item.set_job(job, fade=fade):
                self.fader.add(item)
            if self.grouping is not None:
                for gid in self.grouping.apply(previous, job):
                    group_item = self.groups.get(gid)
                    if group_item is not None:
                        group_item.refresh()
            return
        if self.root_id is not None and job.job_id in self.jobs:
            self._regroup(self.grouping)
            self._rebuild()

    def set_stuck(self, job_id: str | None) -> None:
        """Name the job that holds the flow: the groups that hide it are marked."""
        if job_id == self.stuck_job:
            return
        self.stuck_job = job_id
        for item in self.groups.values():
            item.stuck_job = job_id
            item.refresh()

    def set_grouping(self, threshold: int, page: int | None = None) -> None:
        """Group the children of parents with more than ``threshold`` of them."""
        self.group_threshold = max(1, threshold)
        if page is not None:
            self.group_page = max(1, page)
        if self.root_id is not None:
            self._regroup(self.grouping)
            self._rebuild()

    def _regroup(self, previous: Grouping | None) -> None:
        self.grouping = None
        if self.root_id is not None and self.root_id in self.jobs:
            self.grouping = Grouping(
                self.root_id,
                self.jobs,
                threshold=self.group_threshold,
                page=self.group_page,
                previous=previous,
            )

    def _group_action_later(self, gid: str, action: GroupAction) -> None:
        # The click arrives inside the group item's own mouse handler; the
        # rebuild deletes that item, so it runs once the handler returned.
        QTimer.singleShot(0, lambda: self.group_action(gid, action))

    def group_action(self, gid: str, action: GroupAction) -> None:
        """A group's link was clicked: show more, show failed, or fold it."""
        grouping = self.grouping
        if grouping is None or gid not in grouping.groups:
            return
        if action is GroupAction.MORE:
            grouping.show_more(gid)
        elif action is GroupAction.FAILED:
            grouping.show_failed(gid)
        else:
            grouping.fold(gid)
        self._rebuild()

    def toggle_collapsed(self, job_id: str) -> None:
        if not self.jobs.get(job_id, None) or not self.jobs[job_id].children:
            return
        self.collapsed ^= {job_id}
        self._rebuild()

    def _children(self, node: str) -> Sequence[str]:
        if self.grouping is not None:
            return self.grouping.children(node)
        job = self.jobs.get(node)
        return () if job is None else tuple(c for c in job.children if c in self.jobs)

    def _rebuild(self) -> None:
        scene = self.scene()
        selected = self.selected_job()
        self.fader.clear()
        scene.clear()
        self.nodes = {}
        self.groups = {}
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
        groups = self.grouping.groups if self.grouping is not None else {}
        for job_id, pos in result.positions.items():
            group = groups.get(job_id)
            if group is not None and self.grouping is not None:
                g_item = GroupNodeItem(
                    group,
                    self.grouping,
                    opts.node_width,
                    opts.node_height,
                    self._group_action_later,
                    stuck_job=self.stuck_job,
                )
                g_item.setPos(pos.x, pos.y)
                scene.addItem(g_item)
                self.groups[job_id] = g_item
                continue
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
        """Select a job and scroll to it, first revealing it if a group or collapse hid it."""
        if job_id not in self.nodes and job_id in self.jobs:
            revealed = self.grouping is not None and self.grouping.reveal(job_id)
            opened = self._uncollapse_above(job_id)
            if revealed or opened:
                self._rebuild()
        item = self.nodes.get(job_id)
        if item is not None:
            self.scene().clearSelection()
            item.setSelected(True)
            self.centerOn(item)

    def _uncollapse_above(self, job_id: str) -> bool:
        before = len(self.collapsed)
        parent = self.jobs[job_id].parent_id
        while parent is not None and parent in self.jobs:
            self.collapsed.discard(parent)
            parent = self.jobs[parent].parent_id
        return len(self.collapsed) != before

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
        if isinstance(item, GroupNodeItem):
            shown = self.grouping is not None and self.grouping.visible_members(item.record)
            self.group_action(item.record.id, GroupAction.FOLD if shown else GroupAction.MORE)
            event.accept()
            return
        if isinstance(item, JobNodeItem):
            self.toggle_collapsed(item.job.job_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)
