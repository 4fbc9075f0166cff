"""Typed keys for what the application and each request carry.

Routes and middlewares reach the settings, the store and the authenticated
user through these ``web.AppKey`` / ``web.RequestKey`` objects instead of
string keys, so mypy checks every access and nothing is a module global.
"""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from backend.domain.models import User
from backend.settings import Settings
from backend.shutdown import ShutdownBudget

if TYPE_CHECKING:
    from backend.store.store import Store

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
"""A named health probe returns ``{"ok": bool, ...}``; see ``routes/health.py``."""

SETTINGS = web.AppKey("settings", Settings)
STORE: web.AppKey[Store] = web.AppKey("store")
HEALTH_CHECKS: web.AppKey[dict[str, HealthCheck]] = web.AppKey("health_checks")
OPENAPI_DOC: web.AppKey[dict[str, Any]] = web.AppKey("openapi_doc")
USER = web.RequestKey("user", User)
# One deadline for the whole shutdown, started by the first on_shutdown hook.
SHUTDOWN = web.AppKey("shutdown", ShutdownBudget)


@functools.cache
def package_version() -> str:
    """The installed distribution's version, or a marker when run from a checkout.

    Cached: a metadata lookup scans ``sys.path`` and /health asks on every call.
    """
    try:
        return importlib.metadata.version("flowdesk")
    except importlib.metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        version = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"
    return f"{version}+checkout"
