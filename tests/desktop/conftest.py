"""Fixtures for the desktop tests: the fake backend module on sys.path, a qasync loop."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from desktop.compat import protect_none

protect_none()  # PySide6 6.12 on CPython 3.11 loses None references; see desktop.compat
