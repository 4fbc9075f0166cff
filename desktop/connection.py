"""Where the window's backend is: embedded in this process, or remote.

Embedded mode starts ``backend.embedded.start_embedded(settings)``
(imported here, inside the function, because it is the only backend
internal the desktop may touch); everything after that goes through the same
public REST and websocket interface as a remote server. Remote profiles
(name, URL, token) are remembered in the user's config directory in a file
only its owner can read.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs


class ConnectionError_(Exception):
    """The backend could not be started or reached; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str
    mode: str  # "redis", "in-memory" (embedded) or "remote"
    close: Callable[[], Awaitable[None]] | None = None

    @property
    def label(self) -> str:
        return "remote" if self.mode == "remote" else f"embedded ({self.mode})"


async def start_embedded(settings: Any = None, *, db: Path | None = None) -> Endpoint:
    """Start the in-process backend; raise with a clear message if it cannot.

    ``settings`` (the backend's, for tests) default to the user's; ``db``
    puts the database elsewhere.
    """
    try:
        start = importlib.import_module("backend.embedded").start_embedded
    except (ImportError, AttributeError) as exc:
        raise ConnectionError_(
            "The embedded backend is not available in this build "
            f"({exc}). Start a server with `backend serve` and use "
            "`flowdesk --remote URL --token TOKEN`."
        ) from exc
    server = await start(settings, db=db)
    return Endpoint(server.url, server.token, server.mode, server.close)


def remote(url: str, token: str) -> Endpoint:
    if not url.startswith(("http://", "https://")):
        raise ConnectionError_(f"server URL must start with http:// or https://: {url}")
    if not token:
        raise ConnectionError_("a token is required for a remote server (--token)")
    return Endpoint(url.rstrip("/"), token, "remote")


@dataclass(frozen=True)
class Profile:
    name: str
    url: str
    token: str


def profiles_path() -> Path:
    return Path(platformdirs.user_config_dir("flowdesk")) / "profiles.json"


def load_profiles(path: Path | None = None) -> list[Profile]:
    target = path or profiles_path()
    try:
        raw = json.loads(target.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [
        Profile(str(p["name"]), str(p["url"]), str(p["token"]))
        for p in raw.get("profiles", [])
        if isinstance(p, dict) and {"name", "url", "token"} <= p.keys()
    ]


def save_profile(profile: Profile, path: Path | None = None) -> Path:
    """Add or replace a profile; the file is created with mode 0600."""
    target = path or profiles_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    profiles = [p for p in load_profiles(target) if p.name != profile.name] + [profile]
    body = json.dumps({"profiles": [p.__dict__ for p in profiles]}, indent=2)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
    os.chmod(target, 0o600)
    return target
