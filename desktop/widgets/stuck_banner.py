"""The banner over a stuck flow: which job holds it, why, and the two ways out.

A flow is *stuck* when its progress needs an operator (a failed child its
parent waits for); the server names the job and the reason (``FlowResponse.stuck``).
The list already says "stuck"; this banner says where and why, over the
tree, with Retry (that job) and Go to job (select it, revealing it in its
group). It hides itself when the flow is not stuck.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from backend.schemas import FlowJobResponse, FlowResponse
from desktop.theme import STUCK_TINT, icon

JobLookup = Callable[[str], FlowJobResponse | None]


class StuckBanner(QFrame):
    retryRequested = Signal(str)  # job id
    goToRequested = Signal(str)  # job id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stuck-banner")
        tint = STUCK_TINT
        rgba = f"{tint.red()}, {tint.green()}, {tint.blue()}, {tint.alpha()}"
        self.setStyleSheet(f"#stuck-banner {{ background: rgba({rgba}); border-radius: 4px; }}")
        self.job_id: str | None = None
        self.icon = QLabel()
        self.icon.setPixmap(icon("state-failed").pixmap(18, 18))
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.retry = QPushButton("Retry")
        self.go_to = QPushButton("Go to job")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.retry)
        layout.addWidget(self.go_to)
        self.retry.clicked.connect(self._retry)
        self.go_to.clicked.connect(self._go_to)
        self.hide()

    def show_flow(self, flow: FlowResponse | None, job: JobLookup) -> None:
        """Show the flow's stuck job and reason, or hide when it is not stuck."""
        stuck = None if flow is None else flow.stuck
        if stuck is None:
            self.job_id = None
            self.hide()
            return
        self.job_id = stuck.job_id
        held = job(stuck.job_id)
        name = escape(held.name if held is not None else stuck.job_id)
        self.text.setText(f"Stuck at <b>{name}</b>: {escape(stuck.reason)}")  # names the id
        self.text.setToolTip(f"{stuck.job_id}\n{stuck.reason}")
        self.show()

    def _retry(self) -> None:
        if self.job_id is not None:
            self.retryRequested.emit(self.job_id)

    def _go_to(self) -> None:
        if self.job_id is not None:
            self.goToRequested.emit(self.job_id)
