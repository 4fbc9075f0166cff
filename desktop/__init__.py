"""Flowdesk's desktop window: a PySide6 + qasync operator console.

The package is layered as STYLE.md item 9 describes: ``client`` (REST and
websocket, plain asyncio, no Qt), ``state`` and ``layout`` (pure), ``models``
(Qt item models fed by state changes), ``views`` and ``widgets`` (render and
forward intent), ``app`` (wiring).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def app_version() -> str:
    """The installed distribution's version, for ``--version`` and About."""
    try:
        return version("flowdesk")
    except PackageNotFoundError:
        return "0.0.0+unknown"
