"""The main window: flow list | the flow (tree, jobs, timeline) over job details, and more.

The selected flow is shown by :class:`FlowViews` (three tabs under the stuck
banner, one shared selection); the window loads a selected job's details.

It wires views to the controller and nothing else: views emit intents, the
controller runs them as tasks, and its signals come back to the views.
Geometry, splitter positions and notification settings persist in QSettings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QSystemTrayIcon,
    QTabWidget,
)

from backend.schemas import FlowJobResponse, FlowResponse
from desktop import app_version
from desktop.client.errors import ApiError
from desktop.client.wire import done
from desktop.client.ws import LinkState, LinkStatus
from desktop.controller import Controller
from desktop.grouping import DEFAULT_THRESHOLD
from desktop.state import Alert
from desktop.theme import icon, state_icon
from desktop.views.connect_dialog import ConnectDialog
from desktop.views.flow_list import FlowListPanel
from desktop.views.flow_views import VIEWS, FlowViews
from desktop.views.job_details import JobDetailsPanel
from desktop.views.new_flow import NewFlowDialog, load_templates
from desktop.views.new_schedule import NewScheduleDialog
from desktop.views.queues_page import QueuesPage
from desktop.views.schedules_page import SchedulesPage

OVERVIEW_REFRESH_MS = 5000
# First-run proportions for a 1280x800 window: a list wide enough for its
# columns, and the tree taller than the details below it.
DEFAULT_MAIN_SIZES = (430, 850)
DEFAULT_RIGHT_SIZES = (440, 320)
LINK_ICON_SIZE = 14
# The state icon that shows each connection state in the status bar.
_LINK_ICONS = {
    LinkState.CONNECTED: "completed",
    LinkState.CONNECTING: "active",
    LinkState.CLOSED: "cancelled",
}
FLOW_VIEWS = ("tree", "jobs", "timeline")  # the tabs over the selected flow, in order
CHART_MS = 250  # the throughput chart redraws at most this often


class MainWindow(QMainWindow):
    switchRequested = Signal(object)  # Profile to connect to, or None for embedded

    def __init__(
        self,
        controller: Controller,
        mode: str,
        settings: QSettings | None = None,
        *,
        profile: str | None = None,  # the remote profile in use; None: embedded or ad hoc
        profiles_file: Path | None = None,  # None: the user's config directory
    ):
        super().__init__()
        self.profile = profile
        self.profiles_file = profiles_file
        self.connect_dialog: ConnectDialog | None = None
        self.controller = controller
        self.settings = settings or QSettings("flowdesk", "flowdesk")
        self.setWindowTitle("Flowdesk")
        self.setWindowIcon(icon("flowdesk"))
        self.flow_list = FlowListPanel(controller.flows)
        self.flow_views = FlowViews()
        views = self.flow_views  # the names tests and the app reach the views by:
        self.tree, self.jobs_panel, self.banner = views.tree, views.jobs_panel, views.banner
        self.timeline = views.timeline
        self.details = JobDetailsPanel()
        self.queues_page = QueuesPage(
            controller.queues, controller.workers, tasks=controller.task_stats
        )
        self.schedules_page = SchedulesPage(controller.schedules)
        self.new_schedule_dialog: NewScheduleDialog | None = None
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.addWidget(self.flow_views)
        self.right.addWidget(self.details)
        self.right.setStretchFactor(0, 3)
        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.addWidget(self.flow_list)
        self.main_split.addWidget(self.right)
        self.main_split.setStretchFactor(1, 2)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.main_split, "Flows")
        self.tabs.addTab(self.queues_page, "Queues && workers")
        self.tabs.addTab(self.schedules_page, "Schedules")
        self.setCentralWidget(self.tabs)
        self.new_flow_dialog: NewFlowDialog | None = None
        self.notifications: list[tuple[str, str]] = []  # (title, text) shown, for tests
        self._build_status_bar(mode)
        self._build_menus()
        self._build_tray()
        self._connect()
        self._overview_timer = QTimer(self, interval=OVERVIEW_REFRESH_MS)
        self._overview_timer.timeout.connect(self._refresh_overview)
        self._overview_timer.start()
        self.restore_layout()

    # --- construction ----------------------------------------------------------

    def _build_status_bar(self, mode: str) -> None:
        self.mode_label = QLabel(f"Mode: {mode}")
        self.server_label = QLabel(f"Server: {self.controller.url}")
        self.link_icon = QLabel()  # drawn from an SVG: no glyph a font may lack
        self.link_label = QLabel("Connecting…")
        self.workers_label = QLabel("Workers: ?")
        bar = self.statusBar()
        for label in (
            self.mode_label,
            self.server_label,
            self.link_icon,
            self.link_label,
            self.workers_label,
        ):
            bar.addPermanentWidget(label)

    def _action(self, text: str, slot: Any, shortcut: Any = None, icon_name: str = "") -> QAction:
        action = QAction(icon(icon_name) if icon_name else QAction().icon(), text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        keys = QKeySequence.StandardKey
        self.new_flow_action = self._action("&New flow…", self.open_new_flow, keys.New, "new-flow")
        self.demo_action = self._action("Run &demo flow", self.run_demo, None, "demo")
        self.connect_action = self._action("&Connect to server…", self.open_connect, "Ctrl+Shift+O")
        quit_action = self._action("&Quit", self.close, keys.Quit)
        self.refresh_action = self._action("&Refresh", self.refresh, "F5", "refresh")
        self.find_action = self._action("&Find…", self.flow_list.focus_search, keys.Find)
        self.zoom_in_action = self._action("Zoom &in", self.tree.zoom_in, "Ctrl+=", "zoom-in")
        self.zoom_out_action = self._action("Zoom &out", self.tree.zoom_out, "Ctrl+-", "zoom-out")
        self.fit_action = self._action("&Fit tree", self.tree.fit, "Ctrl+0", "fit")
        self.notify_action = QAction("Notify when flows fail or get stuck", self, checkable=True)
        self.notify_done_action = QAction("Notify when flows complete", self, checkable=True)
        self.group_action = self._action("&Group children above…", self.ask_group_threshold)
        about = self._action("&About Flowdesk", self.show_about)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.new_flow_action, self.demo_action])
        file_menu.addSeparator()
        file_menu.addAction(self.connect_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        view_menu = menu.addMenu("&View")
        view_menu.addActions([self.refresh_action, self.find_action])
        view_menu.addSeparator()
        view_menu.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action])
        view_menu.addSeparator()
        self.view_actions = {
            name: self._action(f"Flow as {name}", lambda _c=False, n=name: self.show_view(n), key)
            for name, key in zip(VIEWS, ("Alt+1", "Alt+2", "Alt+3"), strict=True)
        }
        view_menu.addActions(list(self.view_actions.values()))
        settings_menu = menu.addMenu("&Settings")
        settings_menu.addActions([self.notify_action, self.notify_done_action])
        settings_menu.addAction(self.group_action)
        menu.addMenu("&Help").addAction(about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.addActions([self.new_flow_action, self.demo_action, self.refresh_action])
        toolbar.addSeparator()
        toolbar.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action])

    def _build_tray(self) -> None:
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon("flowdesk"), self)
            self.tray.setToolTip("Flowdesk")
            self.tray.show()

    def _connect(self) -> None:
        c = self.controller
        self.flow_list.flowSelected.connect(lambda fid: c.spawn(c.select_flow(fid)))
        self.flow_list.filterChanged.connect(c.set_filter)
        self.flow_list.bulkRequested.connect(lambda action, ids: c.spawn(c.bulk(action, ids)))
        c.bulkProgress.connect(self.flow_list.bulk_progress)
        c.bulkFinished.connect(self.flow_list.bulk_finished)
        self.flow_views.jobSelected.connect(lambda jid: c.spawn(c.load_job(jid)))
        self.flow_views.retryRequested.connect(lambda jid: c.spawn(c.retry_job(jid)))
        self.details.retryJobRequested.connect(lambda jid: c.spawn(c.retry_job(jid)))
        self.details.cancelFlowRequested.connect(lambda fid: c.spawn(c.cancel_flow(fid)))
        self.details.retryFlowRequested.connect(lambda fid: c.spawn(c.retry_flow(fid)))
        self.queues_page.pauseRequested.connect(
            lambda name, paused: c.spawn(c.set_queue_paused(name, paused))
        )
        self.schedules_page.newRequested.connect(self.open_new_schedule)
        self.schedules_page.actionRequested.connect(
            lambda action, sid: c.spawn(c.schedule_action(action, sid))
        )
        c.jobsLoaded.connect(self._on_jobs_loaded)
        c.jobChanged.connect(self._on_job_changed)
        c.jobDetailLoaded.connect(self.details.show_detail)
        self.details.flow_lookup = c.state.flows.get  # the dict lives as long as c
        c.flowUpdated.connect(self._on_flow_updated)
        c.linkChanged.connect(self._on_link)
        c.workersChanged.connect(lambda n: self.workers_label.setText(f"Workers: {n}"))
        c.failed.connect(lambda text: self.statusBar().showMessage(text, 10000))
        c.alert.connect(self._on_alert)
        # At 1,000 finished jobs a second, one redraw of the chart per finish is
        # wasted work: redraw at most every CHART_MS.
        self._chart_timer = QTimer(self, singleShot=True, interval=CHART_MS)
        self._chart_timer.timeout.connect(self._update_chart)
        c.throughputChanged.connect(self._chart_later)

    # --- controller signals ----------------------------------------------------

    def _on_jobs_loaded(self, flow_id: str, root_id: str, jobs: dict[str, FlowJobResponse]) -> None:
        self.flow_views.show_flow(root_id, jobs, self.controller.state.flows.get(flow_id))
        shown = self.details.job
        if shown is None or shown.flow_id != flow_id:
            self.flow_views.select_job(root_id)

    def _on_job_changed(self, job: FlowJobResponse) -> None:
        self.flow_views.update_job(job)
        self.details.update_job(job)

    def _on_flow_updated(self, flow: FlowResponse) -> None:
        self.details.refresh_actions()
        if flow.id == self.controller.current_flow:
            self.flow_views.show_stuck(flow)

    def show_view(self, name: str) -> None:
        """Bring the tree, jobs or timeline tab of the selected flow to the front."""
        self.tabs.setCurrentIndex(0)
        self.flow_views.show_view(name)

    def ask_group_threshold(self) -> None:
        value, ok = QInputDialog.getInt(
            self,
            "Group children",
            "Show one group per task name when a parent has more children than:",
            self.tree.group_threshold,
            1,
            10_000,
        )
        if ok:
            self.settings.setValue("tree/groupThreshold", value)
            self.tree.set_grouping(value)

    def _on_link(self, status: LinkStatus) -> None:
        text = {
            LinkState.CONNECTED: "Connected",
            LinkState.CONNECTING: "Connecting…",
            LinkState.CLOSED: "Closed",
        }.get(status.state)
        if text is None:
            retry = f", retrying in {status.retry_in:.1f} s" if status.retry_in else ""
            text = f"Disconnected ({status.detail}{retry})"
        self.link_icon.setPixmap(
            state_icon(_LINK_ICONS.get(status.state, "failed")).pixmap(LINK_ICON_SIZE)
        )
        self.link_icon.setToolTip(text)
        self.link_label.setText(text)

    def _on_alert(self, kind: str, flow: FlowResponse) -> None:
        wanted = self.notify_done_action if kind == Alert.COMPLETED else self.notify_action
        if not wanted.isChecked():
            return
        title = f"Flow {kind}: {flow.name}"
        text = (
            flow.stuck.reason if flow.stuck is not None else f"{done(flow)}/{flow.total} jobs done"
        )
        self.notifications.append((title, text))
        if self.tray is not None:
            level = QSystemTrayIcon.MessageIcon.Warning
            if kind == Alert.COMPLETED:
                level = QSystemTrayIcon.MessageIcon.Information
            self.tray.showMessage(title, text, level, 8000)

    def _chart_later(self) -> None:
        if not self._chart_timer.isActive():
            self._chart_timer.start()

    def _update_chart(self) -> None:
        chart = self.queues_page.chart
        chart.set_buckets(self.controller.throughput.buckets(self.controller.now_minute()))

    def _refresh_overview(self) -> None:
        self.controller.spawn(self.controller.refresh_overview())
        self.controller.spawn(self.controller.refresh_schedules())
        self._update_chart()

    # --- actions ---------------------------------------------------------------

    def refresh(self) -> None:
        self.controller.spawn(self.controller.reload_all())

    def open_new_flow(self) -> NewFlowDialog:
        dialog = NewFlowDialog(self)
        dialog.submitted.connect(
            lambda request: self.controller.spawn(self._submit(dialog, request))
        )
        self.new_flow_dialog = dialog
        dialog.open()
        return dialog

    async def _submit(self, dialog: NewFlowDialog, request: Any) -> None:
        try:
            flow = await self.controller.create_flow(request)
        except ApiError as exc:
            dialog.show_error(exc.path, exc.message)
            return
        except Exception as exc:
            dialog.show_error(None, str(exc))
            raise
        dialog.submit_finished()
        dialog.accept()
        self.show_flow(flow.id)

    def open_new_schedule(self) -> NewScheduleDialog:
        dialog = NewScheduleDialog(self)
        dialog.submitted.connect(
            lambda request: self.controller.spawn(self._submit_schedule(dialog, request))
        )
        self.new_schedule_dialog = dialog
        dialog.open()
        return dialog

    async def _submit_schedule(self, dialog: NewScheduleDialog, request: Any) -> None:
        try:
            await self.controller.create_schedule(request)
        except ApiError as exc:
            dialog.show_error(exc.path, exc.message)
            return
        dialog.accept()

    def open_connect(self) -> ConnectDialog:
        dialog = ConnectDialog(
            self.controller.spawn, self, profiles_file=self.profiles_file, current=self.profile
        )
        dialog.connectRequested.connect(self.switchRequested.emit)
        self.connect_dialog = dialog
        dialog.open()
        return dialog

    def run_demo(self) -> None:
        self.controller.spawn(self.start_demo())

    async def start_demo(self) -> FlowResponse:
        import json

        templates = load_templates()
        flow = await self.controller.create_flow(json.loads(templates["demo"]))
        self.show_flow(flow.id)
        return flow

    def show_flow(self, flow_id: str) -> None:
        self.tabs.setCurrentIndex(0)
        if not self.flow_list.select_flow(flow_id):
            self.controller.spawn(self.controller.select_flow(flow_id))

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Flowdesk",
            f"<b>Flowdesk</b> {app_version()}<br>Run and watch trees of jobs.<br>"
            f"Server: {self.controller.url}",
        )

    # --- persistence -----------------------------------------------------------

    def restore_layout(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        defaults = ((self.main_split, DEFAULT_MAIN_SIZES), (self.right, DEFAULT_RIGHT_SIZES))
        for key, (splitter, sizes) in zip(("window/main", "window/right"), defaults, strict=True):
            value = s.value(key)
            if value is None or not splitter.restoreState(value):
                splitter.setSizes(list(sizes))
        self.notify_action.setChecked(s.value("notify/failures", True, type=bool) is True)
        self.notify_done_action.setChecked(s.value("notify/completed", False, type=bool) is True)
        threshold = s.value("tree/groupThreshold", DEFAULT_THRESHOLD, type=int)
        self.tree.set_grouping(threshold if isinstance(threshold, int) else DEFAULT_THRESHOLD)

    def save_layout(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/main", self.main_split.saveState())
        s.setValue("window/right", self.right.saveState())
        s.setValue("notify/failures", self.notify_action.isChecked())
        s.setValue("notify/completed", self.notify_done_action.isChecked())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self._overview_timer.stop()
        self.flow_views.stop()
        super().closeEvent(event)
