"""The new-flow editor: a ``CreateFlowRequest`` as highlighted JSON.

Templates come from ``resources/examples/*.json``. The dialog checks only
that the text is JSON; everything else is the server's job (it knows the
allowed queues and limits), and a rejection is shown at the offending field:
the document is re-indented and the field's line underlined and selected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.jsonpath import line_of, pretty
from desktop.paths import resources_dir
from desktop.widgets.json_view import JsonHighlighter, monospace


def load_templates(folder: Path | None = None) -> dict[str, str]:
    """Template name (file stem) -> JSON text, sorted by name."""
    base = folder or resources_dir() / "examples"
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(base.glob("*.json"))}


class NewFlowDialog(QDialog):
    submitted = Signal(object)  # the parsed request (dict)

    def __init__(self, parent: QWidget | None = None, templates: dict[str, str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("New flow")
        self.resize(640, 560)
        self.templates = load_templates() if templates is None else templates
        self.template = QComboBox()
        self.template.addItems(list(self.templates))
        self.editor = QPlainTextEdit()
        self.editor.setFont(monospace())
        self.highlighter = JsonHighlighter(self.editor.document())
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #e0493e")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Submit")
        top = QHBoxLayout()
        top.addWidget(QLabel("Template:"))
        top.addWidget(self.template, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.template.currentTextChanged.connect(self.use_template)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        if self.templates:
            self.use_template(next(iter(self.templates)))

    def use_template(self, name: str) -> None:
        if name in self.templates:
            self.editor.setPlainText(self.templates[name])
            self.clear_error()

    def clear_error(self) -> None:
        self.error.clear()
        self.highlighter.error_line = None
        self.highlighter.rehighlight()

    def submit(self) -> None:
        """Parse the text and emit ``submitted``; the dialog stays open until accepted."""
        try:
            request: Any = json.loads(self.editor.toPlainText())
        except json.JSONDecodeError as exc:
            self._mark_line(exc.lineno - 1, f"Not valid JSON: {exc.msg} (line {exc.lineno})")
            return
        self.clear_error()
        self.buttons.setEnabled(False)
        self.submitted.emit(request)

    def submit_finished(self) -> None:
        self.buttons.setEnabled(True)

    def show_error(self, path: str | None, message: str) -> None:
        """Show a server rejection at its field ``path`` (re-indents the text)."""
        self.buttons.setEnabled(True)
        try:
            value = json.loads(self.editor.toPlainText())
        except json.JSONDecodeError:
            self._mark_line(0, message)
            return
        text, where = pretty(value)
        self.editor.setPlainText(text)
        prefix = f"{path}: " if path else ""
        self._mark_line(line_of(where, path), prefix + message)

    def _mark_line(self, line: int, message: str) -> None:
        self.error.setText(message)
        self.highlighter.error_line = line
        self.highlighter.rehighlight()
        block = self.editor.document().findBlockByNumber(line)
        cursor = QTextCursor(block)
        cursor.select(QTextCursor.SelectionType.LineUnderCursor)
        self.editor.setTextCursor(cursor)
        self.editor.centerCursor()
