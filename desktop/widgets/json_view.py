"""Read-only, selectable, syntax-highlighted JSON (and plain text) view."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import QPlainTextEdit, QWidget


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


class JsonHighlighter(QSyntaxHighlighter):
    """Colours keys, strings, numbers and literals; works on invalid JSON too."""

    RULES = (
        (r'"(?:[^"\\]|\\.)*"(?=\s*:)', "#3b7ddd", True),  # keys
        (r'"(?:[^"\\]|\\.)*"', "#2f9e57", False),  # strings
        (r"-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b", "#c2602a", False),  # numbers
        (r"\b(?:true|false|null)\b", "#a44ec0", True),  # literals
    )

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._rules: list[tuple[QRegularExpression, QTextCharFormat]] = []
        for pattern, color, bold in self.RULES:
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(color))
            if bold:
                fmt.setFontWeight(QFont.Weight.Bold)
            self._rules.append((QRegularExpression(pattern), fmt))
        self.error_format = QTextCharFormat()
        self.error_format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        self.error_format.setUnderlineColor(QColor("#e0493e"))
        self.error_line: int | None = None

    def highlightBlock(self, text: str) -> None:
        taken = [False] * len(text)
        for regex, fmt in self._rules:
            it = regex.globalMatch(text)
            while it.hasNext():
                match = it.next()
                start, length = match.capturedStart(), match.capturedLength()
                if any(taken[start : start + length]):
                    continue
                taken[start : start + length] = [True] * length
                self.setFormat(start, length, fmt)
        if self.error_line is not None and self.currentBlock().blockNumber() == self.error_line:
            self.setFormat(0, max(1, len(text)), self.error_format)


def monospace() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class JsonView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setFont(monospace())
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = JsonHighlighter(self.document())

    def set_value(self, value: Any) -> None:
        self.setPlainText(to_text(value))
