"""Details of the selected job: facts, JSON tabs, logs, and the operator actions.

The panel only renders a ``JobDetail`` (the wire's) and emits intents
(``retryJobRequested``, ``cancelFlowRequested``, ``retryFlowRequested``); the
controller performs them. Every text is selectable and copyable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from backend.schemas import (
    FlowJobResponse,
    FlowResponse,
    FlowStatus,
    JobDetail,
    JobError,
    JobLogEntry,
    JobState,
)
from desktop.client.wire import attempts_allowed
from desktop.theme import STATE_LABELS, icon, state_color, state_icon
from desktop.widgets.json_view import JsonView, to_text


def duration(started: str | None, finished: str | None) -> str:
    if not started or not finished:
        return ""
    try:
        delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    except ValueError:
        return ""
    return f"{delta.total_seconds():.3f} s"


def moment(iso: str | None) -> str:
    """A server time as local time to the millisecond (the raw text if unparsable)."""
    if not iso:
        return ""
    try:
        local = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def error_text(error: JobError | None) -> str:
    """An error as message first, then the child it came from, then the traceback."""
    if error is None:
        return ""
    parts = [f"{error.type}: {error.message}"]
    if error.child_job_id is not None:
        parts.append(f"(failed child: {error.child_job_id})")
    if error.traceback:
        parts.append(error.traceback.rstrip())
    return "\n\n".join(parts)


STATE_ICON_SIZE = 16


def logs_text(logs: Sequence[JobLogEntry]) -> str:
    return "\n".join(
        f"{line.created_at}  [attempt {line.attempt}]  {line.message}" for line in logs
    )


class JobDetailsPanel(QWidget):
    retryJobRequested = Signal(str)
    cancelFlowRequested = Signal(str)
    retryFlowRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job: FlowJobResponse | None = None
        # How to find the shown job's flow (the window wires its state in).
        self.flow_lookup: Callable[[str], FlowResponse | None] = lambda _flow_id: None
        self.facts: dict[str, QLabel] = {}
        self.state_icon = QLabel()  # the state's SVG icon, left of its label
        form = QFormLayout()
        for key in (
            "Name",
            "Job id",
            "Queue",
            "State",
            "Attempts",
            "Worker",
            "Progress",
            "Created",
            "Started",
            "Finished",
            "Duration",
        ):
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.facts[key] = label
            if key == "State":
                row = QHBoxLayout()
                row.addWidget(self.state_icon)
                row.addWidget(label, 1)
                form.addRow(key + ":", row)
            else:
                form.addRow(key + ":", label)
        self.tabs = QTabWidget()
        self.views: dict[str, JsonView] = {}
        for key in ("Data", "Options", "Result", "Error", "Logs"):
            view = JsonView()
            self.views[key] = view
            self.tabs.addTab(view, key)
        self.retry_job = QPushButton(icon("retry"), "Retry job")
        self.cancel_flow = QPushButton(icon("cancel"), "Cancel flow")
        self.retry_flow = QPushButton(icon("retry"), "Retry failed")
        self.copy_id = QPushButton(icon("copy"), "Copy job id")
        self.retry_job.setToolTip("Run this failed job again")
        self.retry_flow.setToolTip("Retry every failed job of this flow")
        buttons = QHBoxLayout()
        for button in (self.retry_job, self.retry_flow, self.cancel_flow, self.copy_id):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.tabs, 1)
        self.retry_job.clicked.connect(self._retry_job)
        self.cancel_flow.clicked.connect(self._cancel_flow)
        self.retry_flow.clicked.connect(self._retry_flow)
        self.copy_id.clicked.connect(self.copy_job_id)
        self.show_detail(None)

    def show_detail(self, detail: JobDetail | None) -> None:
        self.job = detail
        self._render_facts()
        job = self.job
        self.views["Data"].set_value(None if job is None else job.data)
        self.views["Options"].set_value(None if job is None else job.opts)
        self.views["Result"].set_value(None if job is None else job.result)
        self.views["Error"].setPlainText("" if job is None else error_text(job.error))
        self.views["Logs"].setPlainText("" if detail is None else logs_text(detail.logs))
        if job is not None:
            self._show_outcome_tab(job)

    def _show_outcome_tab(self, job: FlowJobResponse) -> None:
        """A finished job opens on what matters: its result, or its error."""
        if job.status is JobState.FAILED:
            self.tabs.setCurrentWidget(self.views["Error"])
        elif job.status is JobState.COMPLETED:
            self.tabs.setCurrentWidget(self.views["Result"])

    def update_job(self, job: FlowJobResponse) -> None:
        """A live update of the shown job (logs are kept until the next load)."""
        if self.job is None or job.job_id != self.job.job_id:
            return
        previous, self.job = self.job, job
        self._render_facts()
        self.views["Result"].set_value(job.result)
        self.views["Error"].setPlainText(error_text(job.error))
        if job.status is not previous.status:
            self._show_outcome_tab(job)

    def refresh_actions(self) -> None:
        """Offer only what the server would accept for this job and its flow."""
        job = self.job
        flow = None if job is None else self.flow_lookup(job.flow_id)
        self.copy_id.setEnabled(job is not None)
        self.retry_job.setEnabled(
            job is not None and job.status in {JobState.FAILED, JobState.CANCELLED}
        )
        if flow is None:  # not known yet: let the server decide
            self.cancel_flow.setEnabled(job is not None)
            self.retry_flow.setEnabled(job is not None)
            return
        self.cancel_flow.setEnabled(flow.status is FlowStatus.ACTIVE)
        self.retry_flow.setEnabled(
            bool(
                flow.counts.get(JobState.FAILED.value, 0)
                or flow.counts.get(JobState.CANCELLED.value, 0)
            )
        )

    def _render_facts(self) -> None:
        job = self.job
        self.refresh_actions()
        if job is None:
            for label in self.facts.values():
                label.setText("")
            self.state_icon.clear()
            return
        state = job.status.value
        values = {
            "Name": job.name,
            "Job id": job.job_id,
            "Queue": job.queue_name,
            "State": STATE_LABELS.get(state, state),
            "Attempts": f"{job.attempts_made} of {attempts_allowed(job)}",
            "Worker": job.worker_id or "",
            "Progress": to_text(job.progress),
            "Created": moment(job.created_at),
            "Started": moment(job.started_at),
            "Finished": moment(job.finished_at),
            "Duration": duration(job.started_at, job.finished_at),
        }
        for key, value in values.items():
            self.facts[key].setText(value)
        self.state_icon.setPixmap(state_icon(state).pixmap(STATE_ICON_SIZE, STATE_ICON_SIZE))
        self.facts["State"].setStyleSheet(f"color: {state_color(state).name()}; font-weight: bold")

    def copy_job_id(self) -> None:
        if self.job is not None:
            QGuiApplication.clipboard().setText(self.job.job_id)

    def _retry_job(self) -> None:
        if self.job is not None:
            self.retryJobRequested.emit(self.job.job_id)

    def _cancel_flow(self) -> None:
        if self.job is not None:
            self.cancelFlowRequested.emit(self.job.flow_id)

    def _retry_flow(self) -> None:
        if self.job is not None:
            self.retryFlowRequested.emit(self.job.flow_id)
