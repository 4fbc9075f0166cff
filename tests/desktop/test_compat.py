"""The None-refcount guard keeps void Qt calls from exhausting None."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop.compat import protect_none


def test_many_void_calls_leave_none_alive(qtbot: QtBot) -> None:
    protect_none()
    label = QLabel()
    qtbot.addWidget(label)
    for _ in range(200_000):
        label.setText("x")  # a void method: leaks a None reference on PySide6 6.12 + 3.11
    assert sys.getrefcount(None) > 1_000_000
    assert sys.getrefcount(True) > 1_000_000
    assert sys.getrefcount(False) > 1_000_000
