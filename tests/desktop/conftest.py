"""Fixtures for the desktop tests: the helper modules on sys.path, a qasync loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).parent))

from desktop.compat import protect_none

protect_none()  # PySide6 6.12 on CPython 3.11 loses None references; see desktop.compat


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """A qasync loop on the test's QApplication, as ``flowdesk`` runs."""
    qapp.setQuitOnLastWindowClosed(False)  # closing a window must not stop the loop
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()
