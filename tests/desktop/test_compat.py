"""The None-refcount guard, checked on every Python the suite runs on:
applied where PySide6 needs it (CPython 3.11), harmless where not (3.12+,
whose None, True and False are immortal).

The probe runs in a fresh interpreter, because the suite's own process has
the guard applied from ``tests/desktop/conftest.py`` on.
"""

from __future__ import annotations

import json
import subprocess
import sys

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop.compat import protect_none

PROBE = """
import json, sys
from PySide6.QtWidgets import QApplication, QLabel
from desktop.compat import protect_none

app = QApplication([])
label = QLabel()
before = sys.getrefcount(None)
for _ in range(1000):
    label.setText("x")  # a void method
lost = before - sys.getrefcount(None)
unguarded = sys.getrefcount(None)
applied = protect_none()
guarded = sys.getrefcount(None)
for _ in range(1000):
    label.setText("x")
print(json.dumps({"lost": lost, "applied": applied, "added": guarded - unguarded}))
"""


def probe() -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # On 3.11 the lost references abort the interpreter at exit
    # ("none_dealloc") unless the guard holds.
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout)
    return result


def test_guard_is_applied_exactly_where_pyside6_loses_none_references() -> None:
    result = probe()
    if sys.version_info < (3, 12):
        assert result["lost"] >= 1000, (
            "PySide6 no longer loses None references on this Python: desktop/compat.py can go"
        )
        assert result["applied"]
        # the guard's 2**48 references, give or take the few that other code
        # takes or drops between the two counts
        assert result["added"] >= (1 << 48) - 10_000
    else:
        assert result == {"lost": 0, "applied": False, "added": 0}  # immortal: nothing to do


def test_many_void_calls_leave_none_alive(qtbot: QtBot) -> None:
    protect_none()
    label = QLabel()
    qtbot.addWidget(label)
    for _ in range(200_000):
        label.setText("x")  # a void method: leaks a None reference on PySide6 6.12 + 3.11
    assert sys.getrefcount(None) > 1_000_000
    assert sys.getrefcount(True) > 1_000_000
    assert sys.getrefcount(False) > 1_000_000
