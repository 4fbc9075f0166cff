"""The selected flow, three ways: the tree, the jobs table and the timeline, under the stuck banner.

One widget holds the three views as tabs and keeps them in step: a flow's
jobs go to all three (``show_flow``), a live update to all three
(``update_job``: the tree repaints a card or a group, the table a row, the
timeline only notes it is stale), and a job selected in any of them is
selected in the other two (``select_job``; the tree reveals it if a group
or a collapse hid it), then announced once with ``jobSelected`` so the
window loads its details once. The banner names the job that holds a stuck
flow; its Retry and Go to job come out as ``retryRequested`` and a
selection in the tree.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from backend.schemas import FlowJobResponse, FlowResponse
from desktop.views.flow_tree import FlowTreeView
from desktop.views.jobs_table import JobsTablePanel
from desktop.views.timeline_view import TimelinePanel
from desktop.widgets.stuck_banner import StuckBanner

VIEWS = ("tree", "jobs", "timeline")  # the tabs, in order


class FlowViews(QWidget):
    jobSelected = Signal(str)  # job id, once per selection whichever view made it
    retryRequested = Signal(str)  # job id: the banner's Retry

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = FlowTreeView()
        self.jobs_panel = JobsTablePanel()
        self.timeline_panel = TimelinePanel()
        self.timeline = self.timeline_panel.view
        self.banner = StuckBanner()
        self.tabs = QTabWidget()
        for widget, title in zip(
            (self.tree, self.jobs_panel, self.timeline_panel),
            ("Tree", "Jobs", "Timeline"),
            strict=True,
        ):
            self.tabs.addTab(widget, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self._syncing = False  # a selection being copied to the other views
        for view in (self.tree, self.jobs_panel, self.timeline):
            view.jobSelected.connect(self.select_job)
        self.banner.retryRequested.connect(self.retryRequested.emit)
        self.banner.goToRequested.connect(self.go_to_job)

    def show_flow(
        self, root_id: str, jobs: Mapping[str, FlowJobResponse], flow: FlowResponse | None
    ) -> None:
        self.tree.show_jobs(root_id, jobs)
        self.jobs_panel.model.set_jobs(jobs.values())
        self.timeline.show_jobs(root_id, self.tree.jobs)  # the tree keeps that dict current
        self.show_stuck(flow)

    def update_job(self, job: FlowJobResponse) -> None:
        self.tree.update_job(job)
        self.jobs_panel.model.update_job(job)
        self.timeline.mark_stale()

    def show_stuck(self, flow: FlowResponse | None) -> None:
        self.banner.show_flow(flow, self.tree.jobs.get)
        self.tree.set_stuck(None if flow is None or flow.stuck is None else flow.stuck.job_id)

    def select_job(self, job_id: str) -> None:
        """Select a job in the three views; ``jobSelected`` once."""
        if self._syncing:
            return
        self._syncing = True
        try:
            self.tree.select_job(job_id)
            self.jobs_panel.select_job(job_id)
            self.timeline.select_job(job_id)
        finally:
            self._syncing = False
        self.jobSelected.emit(job_id)

    def go_to_job(self, job_id: str) -> None:
        self.show_view("tree")
        self.select_job(job_id)

    def show_view(self, name: str) -> None:
        """Bring the tree, jobs or timeline tab to the front."""
        self.tabs.setCurrentIndex(VIEWS.index(name))

    def stop(self) -> None:
        self.timeline.stop()
