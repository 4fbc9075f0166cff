"""The new-schedule dialog: a name, a timing, and a flow template from ``resources/``.

It builds the ``CreateScheduleRequest``; the server checks it, and a
rejection is shown with the field it names.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from backend.schemas import OverlapName
from desktop.views.new_flow import load_templates


class NewScheduleDialog(QDialog):
    submitted = Signal(object)  # the request (dict)

    def __init__(self, parent: QWidget | None = None, templates: dict[str, str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("New schedule")
        self.templates = load_templates() if templates is None else templates
        self.name = QLineEdit()
        self.kind = QComboBox()
        self.kind.addItems(["cron", "every (ms)"])
        self.timing = QLineEdit("0 3 * * *")
        self.timezone = QLineEdit("UTC")
        self.template = QComboBox()
        self.template.addItems(list(self.templates))
        self.overlap = QComboBox()
        self.overlap.addItems(list(get_args(OverlapName)))
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #e0493e")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Timing", self.kind)
        form.addRow("Expression / period", self.timing)
        form.addRow("Time zone", self.timezone)
        form.addRow("Flow template", self.template)
        form.addRow("Overlap", self.overlap)
        form.addRow(self.error)
        form.addRow(buttons)

    def request(self) -> dict[str, Any]:
        """The request the fields describe (the server validates it)."""
        body: dict[str, Any] = {
            "name": self.name.text(),
            "timezone": self.timezone.text(),
            "flow": json.loads(self.templates[self.template.currentText()]),
            "overlap": self.overlap.currentText(),
        }
        text = self.timing.text().strip()
        if self.kind.currentIndex() == 0:
            body["cron"] = text
        else:
            body["every"] = int(text) if text.isdigit() else text
        return body

    def submit(self) -> None:
        self.error.clear()
        self.submitted.emit(self.request())

    def show_error(self, path: str | None, message: str) -> None:
        self.error.setText(f"{path}: {message}" if path else message)
