"""Fixtures for the desktop tests: the fake backend module on sys.path, a qasync loop."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
